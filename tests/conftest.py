import os
import pathlib

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """The shared corpora. Missing data is a failure, never a skip: CI must prove the readers."""
    path = pathlib.Path(os.environ.get("CARL_DATA_DIR", pathlib.Path(__file__).parents[2] / "shared" / "data"))
    assert (path / "emobank" / "corpus_emobank.csv").is_file(), (
        f"corpora not found under {path}: set CARL_DATA_DIR to the shared data folder")
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> pathlib.Path:
    """A 2-layer, 32-wide BERT with MiniLM's real tokenizer, saved as a local model folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel
    import torch

    from carl.model.encoder import resolve_model_path

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
