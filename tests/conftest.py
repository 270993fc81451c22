import os
import pathlib

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """The shared corpora. Missing data is a failure, never a skip: CI must prove the readers."""
    path = pathlib.Path(os.environ.get("CARL_DATA_DIR", pathlib.Path(__file__).parents[2] / "shared" / "data")).resolve()
    assert (path / "emobank" / "corpus_emobank.csv").is_file(), (
        f"corpora not found under {path}: set CARL_DATA_DIR to the shared data folder")
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> pathlib.Path:
    """A 2-layer, 32-wide BERT with MiniLM's real tokenizer, saved as a local model folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel
    import torch

    from carl.inference.encoders import resolve_model_path

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def export_tiny_model(tiny_encoder, tmp_path_factory):
    """Export the tiny encoder as a fresh sentence-transformers folder (one per call)."""
    from transformers import AutoModel, AutoTokenizer

    from carl.inference.export import export_sentence_transformer

    def export(name: str) -> pathlib.Path:
        path = tmp_path_factory.mktemp(name) / "model"
        return export_sentence_transformer(AutoModel.from_pretrained(tiny_encoder),
                                           AutoTokenizer.from_pretrained(tiny_encoder),
                                           path, pooling="mean", max_seq_length=64)

    return export


@pytest.fixture(scope="module")
def one_blas_thread():
    """BLAS/OpenMP on one thread: tiny problems only lose to thread spin-up, and the CPUs are
    shared (t-SNE's OpenMP loop slows ~10x under contention)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


class CarlRun:
    """What one `carl` command left: exit code, stdout, stderr (and the log records of the run)."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def carl_in_process(monkeypatch, capsys, caplog):
    """Run `carl ARGS` through the console script's own entry point (carl.cli.main) inside this
    process: the same code path as the installed `carl` command without the interpreter start
    and imports of a new process (several seconds each on a loaded 2-core machine). Log
    records (warnings) are appended to stderr."""
    import logging
    import sys

    def run(*args, cwd=None) -> CarlRun:
        from carl.cli import main

        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["carl", *map(str, args)])
        capsys.readouterr()
        caplog.clear()
        code = 0
        with caplog.at_level(logging.WARNING):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        err += "".join(f"{r.levelname} {r.name}: {r.getMessage()}\n" for r in caplog.records)
        return CarlRun(code, out, err)

    return run
