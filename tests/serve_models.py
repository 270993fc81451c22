"""Model folders for the `carl serve` tests, built once per test session and shared by modules.

``build_minilm_model(root)`` exports the embedded all-MiniLM-L6-v2 with carl's exporter (metadata
``base_model: minilm``, so the explorer can compare against the frozen encoder) and fits a V-A
head on a small seeded slice of EmoBank and an ekman emotion head on a small slice of GoEmotions. Folders are built under a fixed name inside pytest's
base temp dir and reused when complete, so several test modules importing the fixture share one
copy (a marker file is written last).
"""

from __future__ import annotations

import pathlib

READY = ".serve-test-ready"


def fit_small_head(folder: pathlib.Path, data_dir: pathlib.Path, *, n_train: int, n_dev: int) -> None:
    """A V-A head from the first ``n_train`` / ``n_dev`` EmoBank train / dev texts (seconds, not minutes)."""
    import numpy as np

    import carl
    from carl.data import load_corpus
    from carl.evaluation.head_fitting import fit_va_head

    records = [r for r in load_corpus("emobank", data_dir, ["train", "dev"]) if r.valence is not None]
    train = [r for r in records if r.split == "train"][:n_train]
    dev = [r for r in records if r.split == "dev"][:n_dev]
    model = carl.load(folder)
    head = fit_va_head(model.encode([r.text for r in train]), np.array([(r.valence, r.arousal) for r in train]),
                       dev_embeddings=model.encode([r.text for r in dev]),
                       dev_va=np.array([(r.valence, r.arousal) for r in dev]), training_corpora=["emobank"])
    head.save(folder)


def build_minilm_model(root: pathlib.Path, data_dir: pathlib.Path, *, n_train: int = 400) -> pathlib.Path:
    """Export MiniLM to ``root/minilm-va`` and fit its V-A head on a slice of EmoBank."""
    folder = root / "minilm-va"
    if (folder / READY).is_file():
        return folder
    from transformers import AutoModel, AutoTokenizer

    from carl.inference.export import export_sentence_transformer
    from carl.inference.encoders import resolve_model_path

    source = resolve_model_path("minilm")
    export_sentence_transformer(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source), folder,
                                pooling="mean", max_seq_length=128, metadata={"base_model": "minilm"})
    fit_small_head(folder, data_dir, n_train=n_train, n_dev=150)
    from carl.evaluation.head_fitting import train_emotion_head

    # the explorer lists emotions from it (tests/test_serve_live.py); 1,600 short texts, seconds
    train_emotion_head(folder, data_dir, "ekman", max_train=1000, max_dev=600)
    (folder / READY).write_text("ok\n")
    return folder


def build_tiny_model(root: pathlib.Path, export_tiny_model, data_dir: pathlib.Path) -> pathlib.Path:
    """The 2-layer tiny encoder of conftest with a V-A head on 200 EmoBank texts (fast fuzzing)."""
    folder = root / "tiny-va"
    if (folder / READY).is_file():
        return folder
    from carl.inference.export import copy_model

    root.mkdir(parents=True, exist_ok=True)
    copy_model(export_tiny_model("serve-tiny"), folder)
    fit_small_head(folder, data_dir, n_train=200, n_dev=100)
    (folder / READY).write_text("ok\n")
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`carl serve` as a user starts it: a subprocess on a free loopback port, stopped with SIGTERM."""

    def __init__(self, model: pathlib.Path, *args: str, log: pathlib.Path):
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "carl.cli", "serve", str(model), "--port",
                                         str(self.port), "--log-level", "warning", *args],
                                        stdout=self._log_file, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 180.0) -> "LiveServer":
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"carl serve exited with {self.process.returncode}: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"carl serve not ready after {timeout:.0f}s: {self.output()[-3000:]}")

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode
