"""Checkpoints that resume a run exactly, written atomically, verified on load.

Layout of ``OUTPUT/checkpoints/step-000120/``:
    model.safetensors   online encoder, heads, discriminator, target branch
    optimizer.pt        optimiser and LR-scheduler state (tensors and numbers only)
    rng.pt              torch CPU (and CUDA) RNG states, the token-selection generator
    rng-rankR.pt        the same for process R of a multi-process run (R >= 1)
    queue.pt            the label-aware MoCo queue (rows, labels, pointer, fill), when mccl.queue_size > 0
    state.json          step, data position, best dev metric
    manifest.json       sha256 and size of every file above; written last

A checkpoint is written into ``step-000120.tmp-<pid>``, every file fsynced, then renamed:
a process killed mid-write leaves only a ``.tmp-*`` folder, which is ignored and cleaned.
Torch files are loaded with ``weights_only=True``: no pickle from disk is ever executed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil

import torch
from safetensors.torch import load_model, save_model

from carl.errors import CheckpointError

MANIFEST = "manifest.json"
QUEUE_FILE = "queue.pt"


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: pathlib.Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rng_state(generator: torch.Generator) -> dict:
    """Every random state a step draws from: dropout (torch CPU/CUDA) and token selection.

    Data order needs none: batches are a pure function of (seed, epoch).
    """
    tensors = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    return tensors


def restore_rng(tensors: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(tensors["torch"])
    generator.set_state(tensors["generator"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])


def all_rng_states(generator: torch.Generator) -> list[dict]:
    """:func:`rng_state` of every process, rank order (collective: every process must call it).

    Each process draws its own dropout masks and token selections, so an exact resume of a
    multi-process run needs every rank's state, not only the one of the process that writes.
    """
    import torch.distributed as dist

    mine = rng_state(generator)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [mine]
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, mine)
    return states


def _rng_file(rank: int) -> str:
    return "rng.pt" if rank == 0 else f"rng-rank{rank}.pt"


def save_checkpoint(root: pathlib.Path, step: int, model, optimizer, scheduler, state: dict,
                    rng_states: list[dict], keep: int = 2, queue: dict | None = None) -> pathlib.Path:
    """Write ``root/step-N`` atomically; ``rng_states`` from :func:`all_rng_states`; ``queue``: the
    training step's :meth:`LabelQueue.state_dict` (None: the run has no queue)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = root / f"{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
    for rank, tensors in enumerate(rng_states):
        torch.save(tensors, tmp / _rng_file(rank))
    if queue is not None:
        torch.save(queue, tmp / QUEUE_FILE)
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}))
    files = sorted(p.name for p in tmp.iterdir())
    for name in files:
        _fsync_file(tmp / name)
    manifest = {name: {"sha256": _sha256(tmp / name), "bytes": (tmp / name).stat().st_size} for name in files}
    (tmp / MANIFEST).write_text(json.dumps({"step": step, "files": manifest}, indent=1))
    _fsync_file(tmp / MANIFEST)
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    for old in complete_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(root: pathlib.Path) -> list[pathlib.Path]:
    """Finished checkpoints, oldest first (a folder counts once its manifest exists)."""
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and ".tmp" not in p.name and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: p.name)


def clean_partial(root: pathlib.Path) -> list[pathlib.Path]:
    """Remove folders left by a write that was killed; returns what was removed."""
    partial = [p for p in root.glob("step-*.tmp-*")] if root.is_dir() else []
    for p in partial:
        shutil.rmtree(p, ignore_errors=True)
    return partial


def verify_checkpoint(path: pathlib.Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc}); delete this folder to resume from an older one") from None
    for name, meta in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{path}: {name} is missing; delete this checkpoint folder to resume from an older one")
        if file.stat().st_size != meta["bytes"] or _sha256(file) != meta["sha256"]:
            raise CheckpointError(
                f"{file}: checksum mismatch (truncated or corrupted); delete {path} to resume from an older checkpoint"
            )
    return manifest


def load_checkpoint(path: pathlib.Path, model, optimizer, scheduler, generator: torch.Generator,
                    rank: int = 0) -> dict:
    """Restore everything into the given objects (this process's RNG: ``rank``) and return
    state.json."""
    verify_checkpoint(path)
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match this configuration (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "resume with the config.yaml saved in the run folder"
        )
    opt = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    rng_path = path / _rng_file(rank)
    if not rng_path.is_file():
        raise CheckpointError(
            f"{path}: no random state for process {rank} ({rng_path.name}): the checkpoint was written by fewer "
            "processes; resume with the same number of processes it was trained with"
        )
    restore_rng(torch.load(rng_path, weights_only=True), generator)
    return json.loads((path / "state.json").read_text())


def load_queue(path: pathlib.Path) -> dict:
    """The queue state a checkpoint holds (verified with the rest by :func:`load_checkpoint`)."""
    file = path / QUEUE_FILE
    if not file.is_file():
        raise CheckpointError(
            f"{path}: no {QUEUE_FILE}, but this run has a label queue (mccl.queue_size > 0): the checkpoint was "
            "written by a run without a queue or by carl before queues were checkpointed; resume with the "
            "config.yaml saved in the run folder, or start the run again")
    return torch.load(file, weights_only=True, map_location="cpu")
