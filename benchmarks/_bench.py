"""Shared helpers of the carl benchmarks: environment record, encoders, batches, timing, reports.

Imported by ``step_cost.py`` and ``throughput.py`` (run them as ``python benchmarks/NAME.py``;
the script's folder is on ``sys.path``). Nothing here asserts a timing: the scripts measure
and write what they measured.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as _dt
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
ASSETS = HERE / "assets"
RESULTS = HERE / "results"
SAMPLE_TEXTS = ASSETS / "emobank_sample.csv"
"""1,024 EmoBank training sentences (CC-BY-SA 4.0, see assets/README.md); travels with the repo."""

# The repo's sources, when the package is not installed (the GPU machine uses PYTHONPATH=src too).
if str(REPO / "src") not in sys.path:
    try:
        import carl  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        import importlib.metadata as md

        return md.version(name)
    except Exception:
        return None


def _git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) or None
    except Exception:
        return None


def environment(device: torch.device) -> dict:
    """Everything needed to read a number later: command, machine, versions, date, load."""
    import transformers

    env = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], os.getcwd())] + sys.argv[1:]),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "transformers": transformers.__version__,
        "sentence_transformers": _version("sentence-transformers"),
        "carl": _version("carl-affect"),
        "git": _git_revision(),
        "loadavg_start": _loadavg(),
    }
    return env


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def finish_environment(env: dict) -> dict:
    env["loadavg_end"] = _loadavg()
    return env


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """bf16 autocast as ``train.mixed_precision: bf16`` gives (Accelerator.autocast); fp32 otherwise."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise ValueError(f"unknown precision {precision!r} (fp32 or bf16)")


# ---------------------------------------------------------------------------
# encoders
# ---------------------------------------------------------------------------


@dataclass
class LoadedEncoder:
    model: torch.nn.Module
    tokenizer: object
    name: str
    source: str  # folder the weights came from, or "random-init from benchmarks/assets/NAME"
    pretrained: bool

    def describe(self) -> dict:
        params = sum(p.numel() for p in self.model.parameters())
        cfg = self.model.config
        return {"name": self.name, "source": self.source, "pretrained_weights": self.pretrained,
                "parameters": params, "hidden_size": cfg.hidden_size, "layers": cfg.num_hidden_layers,
                "attn_implementation": getattr(cfg, "_attn_implementation", None)}


def load_bench_encoder(name: str, weights: str = "auto", seed: int = 0) -> LoadedEncoder:
    """An encoder for timing.

    ``weights``: ``pretrained`` (carl's ``load_encoder``; fails if the weights are not here),
    ``random`` (architecture and tokenizer from ``benchmarks/assets/NAME``, random weights:
    the same cost per step, used on the GPU machine, to which the weights cannot travel), or
    ``auto`` (pretrained when a local copy resolves, else random).
    """
    from carl.inference.encoders import load_encoder, resolve_model_path

    if weights in ("auto", "pretrained"):
        resolved = resolve_model_path(name)
        local = pathlib.Path(resolved)
        if local.is_dir() or weights == "pretrained":
            model, tokenizer = load_encoder(name)
            return LoadedEncoder(model, tokenizer, name, resolved, True)
    asset = ASSETS / name
    if not (asset / "config.json").is_file():
        raise SystemExit(f"no local weights for {name!r} and no architecture under {asset}; "
                         f"known: {sorted(p.name for p in ASSETS.iterdir() if (p / 'config.json').is_file())}")
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(asset))
    model = AutoModel.from_config(AutoConfig.from_pretrained(str(asset)))
    return LoadedEncoder(model, tokenizer, name, f"random-init from {asset.relative_to(REPO)}", False)


# ---------------------------------------------------------------------------
# texts and batches
# ---------------------------------------------------------------------------


def default_texts_path() -> pathlib.Path:
    """The full EmoBank file when this checkout sits beside shared/, else the shipped sample."""
    for candidate in (REPO.parent / "shared" / "data" / "emobank" / "corpus_emobank.csv",
                      REPO / "shared" / "data" / "emobank" / "corpus_emobank.csv"):
        if candidate.is_file():
            return candidate
    return SAMPLE_TEXTS


def read_texts(path: str | os.PathLike | None = None, limit: int | None = None) -> tuple[list[str], np.ndarray, str]:
    """(texts, V-A labels min-max normalised from EmoBank's 1..5 scale to [0, 1], source).

    Reads an EmoBank-style CSV (columns text, V, A; rows with split != train skipped when a
    split column exists).
    """
    path = pathlib.Path(path) if path else default_texts_path()
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("split") not in (None, "", "train"):
                continue
            text = (row.get("text") or "").strip()
            if not text:
                continue
            texts.append(text)
            labels.append([(float(row["V"]) - 1) / 4, (float(row["A"]) - 1) / 4])
            if limit and len(texts) >= limit:
                break
    return texts, np.clip(np.asarray(labels, dtype=np.float32), 0, 1), str(path)


def special_wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one text ([CLS] / [SEP], <s> / </s>)."""
    bare = tokenizer("hello", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello")["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare):]
    raise ValueError("cannot locate the text inside the tokenizer's special-token wrapping")


def fixed_length_batches(tokenizer, texts: list[str], labels: np.ndarray, batch_size: int, seq_len: int,
                         n_batches: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Batches of real text, every row exactly ``seq_len`` tokens (no padding).

    Each row is the next sentences of the corpus concatenated until ``seq_len`` tokens
    (with the tokenizer's special tokens) are filled; the row's label is its first
    sentence's. ``class_labels`` (for the supervised baseline) is the V-A quadrant (4 classes).
    """
    prefix, suffix = special_wrapping(tokenizer)
    body = seq_len - len(prefix) - len(suffix)
    if body < 1:
        raise SystemExit(f"--seq-len {seq_len} leaves no room for text")
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
    special = sorted(set(tokenizer.all_special_ids))
    batches, cursor = [], 0
    for _ in range(n_batches):
        rows, row_labels = [], []
        for _ in range(batch_size):
            first = cursor % len(texts)
            ids: list[int] = []
            while len(ids) < body:
                ids.extend(pieces[cursor % len(texts)] or [tokenizer.unk_token_id])
                cursor += 1
            rows.append(prefix + ids[:body] + suffix)
            row_labels.append(labels[first])
        input_ids = torch.tensor(rows, dtype=torch.long)
        assert input_ids.shape == (batch_size, seq_len), input_ids.shape
        attention = torch.ones_like(input_ids)
        candidates = ~torch.isin(input_ids, torch.tensor(special, dtype=torch.long))
        y = torch.tensor(np.stack(row_labels), dtype=torch.float32)
        quadrant = (y[:, 0] >= 0.5).long() * 2 + (y[:, 1] >= 0.5).long()
        batch = {"input_ids": input_ids, "attention_mask": attention, "candidates": candidates,
                 "labels": y, "class_labels": quadrant}
        batches.append({k: v.to(device) for k, v in batch.items()})
    return batches


# ---------------------------------------------------------------------------
# statistics and reports
# ---------------------------------------------------------------------------


def summarize(samples: list[float]) -> dict:
    """Median and spread of a list of timings (seconds in, milliseconds out)."""
    ms = sorted(1000 * s for s in samples)
    if not ms:
        return {"n": 0}
    q = np.percentile(ms, [25, 75]) if len(ms) > 1 else [ms[0], ms[0]]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3), "mean_ms": round(statistics.fmean(ms), 3),
            "p25_ms": round(float(q[0]), 3), "p75_ms": round(float(q[1]), 3),
            "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3)}


def write_report(stem: pathlib.Path, payload: dict, markdown: str) -> tuple[pathlib.Path, pathlib.Path]:
    stem = pathlib.Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    # Committed results name no path of the machine that wrote them (data dir, /tmp, home: placeholders).
    from carl.portable import portable, portable_text

    json_path.write_text(json.dumps(portable(payload), indent=1, default=str) + "\n")
    md_path.write_text(portable_text(markdown))
    return json_path, md_path


def environment_markdown(env: dict) -> str:
    machine = env["gpu"] or env["cpu"]
    lines = [
        f"- command: `{env['command']}`",
        f"- machine: {machine}" + (f" (host CPU {env['cpu']}, {env['cpu_count']} cores)" if env["gpu"] else
                                   f", {env['cpu_count']} cores, torch threads {env['torch_threads']}"),
        f"- torch {env['torch']}" + (f" (CUDA {env['cuda']})" if env.get("cuda") else "")
        + f", transformers {env['transformers']}, sentence-transformers {env['sentence_transformers']}, "
          f"python {env['python']}",
        f"- date (UTC): {env['date_utc']}; git: {env.get('git')}",
        f"- load average at start / end: {env.get('loadavg_start')} / {env.get('loadavg_end')}",
    ]
    return "\n".join(lines) + "\n"


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def clone_encoder(encoder: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(encoder)


class Stopwatch:
    """Host clock around device work: synchronize, then read ``perf_counter``."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        synchronize(self.device)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronize(self.device)
        self.seconds = time.perf_counter() - self.start
        return False
