"""Does PTD's discriminator detect perturbations, or does it learn which tokens are salient?

In the cpu grid (results/reproduce-cpu) the discriminator's late focal loss is the same for the
paper's radius (5e-9, below float32 resolution of the embeddings) and for a radius as large as
the token embedding (ε = 1·‖e‖), yet higher when random tokens are perturbed. This script
separates the two explanations on a frozen encoder, with a fresh discriminator head
(``carl.network.heads.TokenDiscriminator``) per condition:

    selection ∈ {saliency (top 10 % by ‖∂L_MCCL/∂e_t‖², CARL), random (same count)}
    radius    ∈ {0 (clean input), ε·‖e_t‖ for each --epsilons}

Perturbations are CARL's own: one PGD step along the MCCL gradient inside the ε-ball
(``carl.losses.perturb_salient_tokens``), with the MCCL loss of ``carl.losses.MCCLLoss`` on
the model's (untrained) projection / prediction heads and EMA target, as at CARL's step 0.
The encoder stays in train mode (dropout on), as in a CARL step. Hidden states of the
perturbed input are computed once per batch; each head is trained with the focal loss
(γ = 2, α = 0.25, the defaults) on the training batches and scored on held-out batches:
focal loss over real tokens (as in training), the loss of the best constant prediction (chance),
and ROC AUC among candidate (non-special) tokens, where 0.5 is chance.

Reading: random + radius 0 is chance by construction (AUC ≈ 0.5). saliency + radius 0 says
how far saliency is predictable from clean text. random + radius > 0 says how detectable the
perturbation itself is. If saliency + ε matches saliency + 0 while random + ε is well above
chance, the grid's discriminator could detect perturbations but gains nothing from them.

    python scripts/ptd_detectability.py                              # MiniLM, EmoBank train texts
    python scripts/ptd_detectability.py --model results/reproduce-cpu/runs/carl/seed1/model
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import pathlib
import re
import sys
import time

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.metrics import roc_auc_score

from carl.config import CarlConfig
from carl.data.loading import load_corpus
from carl.data.registry import resolve_data_dir
from carl.evaluation.report import cpu_model
from carl.losses import MCCLLoss, perturb_salient_tokens
from carl.losses import functional as CF
from carl.network.carl import CarlModel
from carl.inference.encoders import load_encoder
from carl.network.heads import TokenDiscriminator
from carl.reproduce import git_commit
from carl.training.batching import collate, tokenise

REPO = pathlib.Path(__file__).resolve().parent.parent


def chance_focal_loss(positive_share: float, gamma: float, alpha: float) -> float:
    """Focal loss of the best constant probability p for a token set with this positive share."""
    def loss(p: float) -> float:
        return (positive_share * alpha * (1 - p) ** gamma * -math.log(p)
                + (1 - positive_share) * (1 - alpha) * p ** gamma * -math.log(1 - p))
    return float(minimize_scalar(loss, bounds=(1e-6, 1 - 1e-6), method="bounded").fun)


def make_batches(model_ref: str, data_dir, n_batches: int, batch_size: int, max_length: int, seed: int):
    records = [r for r in load_corpus("emobank", data_dir, ["train"]) if r.valence is not None]
    pick = np.random.default_rng(seed).choice(len(records), n_batches * batch_size, replace=False)
    chosen = [records[i] for i in pick]
    encoder, tokenizer = load_encoder(model_ref)
    ids = tokenise([r.text for r in chosen], tokenizer, max_length)
    labels = torch.tensor([[r.valence, r.arousal] for r in chosen], dtype=torch.float32)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = []
    for b in range(n_batches):
        rows = slice(b * batch_size, (b + 1) * batch_size)
        batch = collate(ids[rows], pad, tokenizer.all_special_ids)
        batch["labels"] = labels[rows]
        batches.append(batch)
    return encoder, batches


def perturbed_states(model: CarlModel, mccl: MCCLLoss, batch, epsilons, top_fraction: float, generator):
    """{(selection, radius): (hidden states of the input, tokens labelled perturbed)} for one batch."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    embeddings = model.word_embeddings(ids).detach().requires_grad_(True)
    pooled = model.pool(model.online_hidden(embeddings, mask), mask)
    loss = mccl(model.predict(pooled), model.target_projection_of(ids, mask), batch["labels"])
    grad = torch.autograd.grad(loss, embeddings)[0]
    selections = {
        "saliency": CF.top_fraction_mask(CF.saliency_scores(grad), batch["candidates"], top_fraction),
        "random": CF.random_fraction_mask(batch["candidates"], top_fraction, generator),
    }
    out = {}
    with torch.no_grad():
        clean = model.online_hidden(embeddings.detach(), mask)
        for name, selected in selections.items():
            out[(name, 0.0)] = (clean, selected)
            for eps in epsilons:
                delta = perturb_salient_tokens(embeddings.detach(), grad, selected, epsilon=eps,
                                               relative_epsilon=True, steps=1, step_scale=1.0)
                out[(name, eps)] = (model.online_hidden(embeddings.detach() + delta, mask), selected)
    return out


def train_and_score(train, test, hidden_size: int, steps: int, lr: float, gamma: float, alpha: float, seed: int):
    torch.manual_seed(seed)
    head = TokenDiscriminator(hidden_size)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
    curve = []
    for step in range(steps):
        states, selected, valid, _ = train[step % len(train)]
        loss = CF.binary_focal_loss(head(states), selected, valid, gamma, alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve.append(loss.item())
    with torch.no_grad():
        logits = [head(s) for s, _, _, _ in test]
        losses = [float(CF.binary_focal_loss(l, sel, v, gamma, alpha)) for l, (_, sel, v, _) in zip(logits, test)]
        positive_share = float(torch.cat([sel[v] for _, sel, v, _ in test]).float().mean())
        # AUC among candidate tokens only: special tokens are never selected, and counting them
        # would let a head score above 0.5 on random labels just by recognising [CLS] / [SEP].
        scores = torch.cat([l[c] for l, (_, _, _, c) in zip(logits, test)]).numpy()
        truth = torch.cat([sel[c] for _, sel, _, c in test]).numpy()
    return {
        "test_focal_loss": float(np.mean(losses)),
        "chance_focal_loss": chance_focal_loss(positive_share, gamma, alpha),
        "test_auc": float(roc_auc_score(truth, scores)),
        "positive_share": positive_share,
        "train_loss_last_10pct": float(np.mean(curve[-max(1, steps // 10):])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm", help="encoder: alias, Hugging Face id or folder")
    parser.add_argument("--data-dir", default=None, help="corpora folder (default: $CARL_DATA_DIR, ../shared/data)")
    parser.add_argument("--epsilons", default="0.1,1", help="relative radii ε (radius ε·‖e_t‖), comma-separated")
    parser.add_argument("--top-fraction", type=float, default=0.1)
    parser.add_argument("--train-batches", type=int, default=100)
    parser.add_argument("--test-batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--head-steps", type=int, default=500, help="discriminator-head optimiser steps per condition")
    parser.add_argument("--head-lr", type=float, default=None, help="default: carl train.head_learning_rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "results" / "ptd-detectability"))
    args = parser.parse_args(argv)

    started = time.time()
    torch.manual_seed(args.seed)
    config = CarlConfig()
    head_lr = args.head_lr if args.head_lr is not None else config.train.head_learning_rate
    gamma, alpha = config.ptd.focal_gamma, config.ptd.focal_alpha
    epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    data_dir = resolve_data_dir(args.data_dir)

    encoder, batches = make_batches(args.model, data_dir, args.train_batches + args.test_batches,
                                    args.batch_size, args.max_length, args.seed)
    encoder.requires_grad_(False)  # frozen: only the input gradient (saliency, PGD) is needed
    model = CarlModel.from_config(encoder, config.model, config.mccl)
    model.train()
    mccl = MCCLLoss(config.mccl.temperature, config.mccl.label_temperature, centre_labels=config.mccl.centre_labels)
    generator = torch.Generator().manual_seed(args.seed)

    conditions: dict[tuple[str, float], list] = {}
    for i, batch in enumerate(batches):
        for key, (states, selected) in perturbed_states(model, mccl, batch, epsilons, args.top_fraction, generator).items():
            conditions.setdefault(key, []).append((states, selected, batch["attention_mask"].bool(),
                                                   batch["candidates"]))
        print(f"\rhidden states: batch {i + 1}/{len(batches)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    rows = []
    for (selection, eps), data in conditions.items():
        scores = train_and_score(data[: args.train_batches], data[args.train_batches:],
                                 encoder.config.hidden_size, args.head_steps, head_lr, gamma, alpha, args.seed)
        rows.append({"selection": selection, "relative_epsilon": eps, **scores})
        print(f"{selection:8s} ε={eps:<4g} test focal {scores['test_focal_loss']:.4f} (chance "
              f"{scores['chance_focal_loss']:.4f})  AUC {scores['test_auc']:.3f}", file=sys.stderr)

    command = "python scripts/ptd_detectability.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {
        "command": command.strip(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{cpu_model()}, {torch.get_num_threads()} torch threads", "git": git_commit(),
        "torch": torch.__version__, "settings": vars(args) | {"head_lr": head_lr, "focal_gamma": gamma,
                                                             "focal_alpha": alpha},
        "seconds": round(time.time() - started, 1), "results": rows,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9.]+", "-", args.model).strip("-")[-80:]
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"# PTD detectability: {args.model}", "",
        f"- command: `{record['command']}`", f"- machine: {record['machine']}; torch {torch.__version__}",
        f"- date (UTC): {record['date']}; git: {record['git']}; {record['seconds']} s",
        f"- {args.train_batches} training / {args.test_batches} held-out batches of {args.batch_size} EmoBank train "
        f"texts (max_length {args.max_length}); frozen encoder; a fresh TokenDiscriminator per condition, "
        f"{args.head_steps} AdamW steps at lr {head_lr}; focal γ={gamma}, α={alpha}", "",
        "| tokens labelled perturbed | radius | held-out focal loss | chance (best constant) | ROC AUC (candidates) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        radius = "0 (clean input)" if r["relative_epsilon"] == 0 else f"{r['relative_epsilon']:g}·‖e‖"
        chosen = f"top {args.top_fraction:.0%} by saliency" if r["selection"] == "saliency" else f"random {args.top_fraction:.0%}"
        lines.append(f"| {chosen} | {radius} | {r['test_focal_loss']:.4f} | "
                     f"{r['chance_focal_loss']:.4f} | {r['test_auc']:.3f} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"written: {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
