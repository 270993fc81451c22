"""Issue 43, dev splits only: can the V-A head, or training, make arousal tell anger + fear from sadness
without costing EmoBank / Facebook-VA Pearson?

    python scripts/arousal_dev_study.py embed MODEL OUT.npz       # embeddings of every text below (once per model)
    python scripts/arousal_dev_study.py heads OUT.npz [--mlp] [--emotion-head MODEL [--gated]] [--bound]

``embed``: EmoBank + Facebook-VA train and dev (their V-A ratings), and up to 6,000 train / 2,000 dev
single-label texts of CARER and GoEmotions-Ekman (their label's NRC-VAD point as target, the label
for the AUCs): the subsamples the V-A head's ``--class-corpora`` option draws (carl.evaluation.head_fitting).

``heads`` prints, for each head, the mean dev Pearson r of V and A on the rated dev texts and, per class
corpus, the dev arousal AUC (anger + fear vs sadness) and valence AUC (joy vs sadness / anger / fear):
Ridge with the class texts at total weight w (the head's ``--class-corpora`` grid), ``--mlp``: a one-layer
MLP (256 GELU units, AdamW, weight decay 0.01, 30 and 100 epochs) at the same weights, ``--emotion-head``:
the Ridge head's output blended with the emotion head's expected NRC-VAD point (sum over labels of
probability x the label's point) at share lambda, ``--gated`` (with ``--emotion-head``): the Ridge head's
arousal plus beta x g(x)^k x (2 q(x) - 1), where q is a logistic anger + fear vs sadness read-out fitted on
both class corpora's train texts and g the emotion head's probability mass on anger, fear and sadness (so
texts the emotion head calls neutral or joyful keep the rated head's arousal), ``--bound``: how far a linear read-out can go, a logistic
regression for anger + fear vs sadness trained on each class corpus's own train texts (and its transfer to
the other corpus). No test split is read.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score

from carl.data import load_corpus, resolve_data_dir
from carl.data.lexicon import label_coordinates
from carl.evaluation.head_fitting import MAX_CLASS_DEV, MAX_CLASS_TRAIN, class_rows
from carl.evaluation.probes import va_metrics
from carl.evaluation.tasks import has_va
from carl.evaluation.va_classes import arousal_auc, valence_auc
from carl.inference import load
from carl.inference.heads.base import l2_normalise
from carl.inference.heads.emotions import EmotionHead

RATED, CLASSES = ("emobank", "facebook-va"), ("carer", "goemotions-ekman")
WEIGHTS = (0.0, 0.1, 0.3, 1.0)


def embed(model: str, out: str) -> None:
    data, encoder, arrays = resolve_data_dir(None), load(model), {}
    for corpus in RATED:
        records = load_corpus(corpus, data, ["train", "dev"], seed=0)
        for split in ("train", "dev"):
            rows = [r for r in records if r.split == split and has_va(r)]
            arrays[f"{corpus}.{split}.x"] = encoder.encode([r.text for r in rows], batch_size=64)
            arrays[f"{corpus}.{split}.y"] = np.array([(r.valence, r.arousal) for r in rows])
    for corpus in CLASSES:
        records = load_corpus(corpus, data, ["train", "dev"], seed=0)
        for split, limit in (("train", MAX_CLASS_TRAIN), ("dev", MAX_CLASS_DEV)):
            rows = class_rows(records, corpus, split, limit)
            arrays[f"{corpus}.{split}.x"] = encoder.encode([r.text for r in rows], batch_size=64)
            arrays[f"{corpus}.{split}.y"] = np.array([(r.valence, r.arousal) for r in rows])
            arrays[f"{corpus}.{split}.labels"] = np.array([r.labels[0] for r in rows])
    np.savez(out, **arrays)


def _mlp(x, y, sample_weight, *, epochs: int, seed: int = 0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, 2))
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    wt = torch.tensor(sample_weight / sample_weight.mean(), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), 256):
            batch = order[start:start + 256]
            loss = ((net(xt[batch]) - yt[batch]) ** 2).sum(1).mul(wt[batch]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    net.eval()
    return lambda z: net(torch.tensor(z, dtype=torch.float32)).detach().numpy()


def bound(d) -> None:
    aroused, calm = ["anger", "fear"], ["sadness"]
    for corpus, other in (CLASSES, CLASSES[::-1]):
        x, labels = l2_normalise(d[f"{corpus}.train.x"]), d[f"{corpus}.train.labels"]
        keep = np.isin(labels, aroused + calm)
        for c in (1, 10):
            model = LogisticRegression(C=c, max_iter=2000).fit(x[keep], np.isin(labels[keep], aroused))
            scores = []
            for target in (corpus, other):
                dx, dl = l2_normalise(d[f"{target}.dev.x"]), d[f"{target}.dev.labels"]
                dkeep = np.isin(dl, aroused + calm)
                scores.append(roc_auc_score(np.isin(dl[dkeep], aroused), model.decision_function(dx[dkeep])))
            print(f"logistic anger+fear vs sadness on {corpus} train, C={c}: dev AUC {scores[0]:.3f} on {corpus}, "
                  f"{scores[1]:.3f} on {other}", flush=True)


def heads(path: str, *, mlp: bool, emotion_head: str | None, linear_bound: bool = False, gated: bool = False) -> None:
    d = np.load(path)
    if linear_bound:
        bound(d)
    x = l2_normalise(np.vstack([d[f"{c}.train.x"] for c in RATED]))
    y = np.vstack([d[f"{c}.train.y"] for c in RATED])
    dev_x = l2_normalise(np.vstack([d[f"{c}.dev.x"] for c in RATED]))
    dev_y = np.vstack([d[f"{c}.dev.y"] for c in RATED])
    class_x = l2_normalise(np.vstack([d[f"{c}.train.x"] for c in CLASSES]))
    class_y = np.vstack([d[f"{c}.train.y"] for c in CLASSES])

    def report(name: str, predict) -> None:
        m = va_metrics(predict(dev_x), dev_y)
        cells = []
        for corpus in CLASSES:
            pred, labels = predict(l2_normalise(d[f"{corpus}.dev.x"])), list(d[f"{corpus}.dev.labels"])
            cells.append(f"{corpus} arousal AUC {arousal_auc(pred[:, 1], labels):.3f} "
                         f"valence AUC {valence_auc(pred[:, 0], labels):.3f}")
        print(f"{name:34s} dev Pearson {m['pearson_mean']:.3f} (V {m['pearson_v']:.3f}, A {m['pearson_a']:.3f}) | "
              + " | ".join(cells), flush=True)

    def weighted(w: float):
        if w == 0:
            return x, y, np.ones(len(x))
        return (np.vstack([x, class_x]), np.vstack([y, class_y]),
                np.concatenate([np.ones(len(x)), np.full(len(class_x), w * len(x) / len(class_x))]))

    for w in WEIGHTS:
        for alpha in (0.1, 1, 10):
            rows, targets, sw = weighted(w)
            report(f"ridge w={w:g} alpha={alpha:g}", Ridge(alpha=alpha).fit(rows, targets, sample_weight=sw).predict)
    if mlp:
        for w in WEIGHTS:
            for epochs in (30, 100):
                report(f"mlp w={w:g} epochs={epochs}", _mlp(*weighted(w), epochs=epochs))
    if emotion_head:
        head = EmotionHead.load(emotion_head)
        points = label_coordinates("goemotions-ekman", None)
        expected = np.array([points[label] for label in head.labels])
        ridge = Ridge(alpha=1).fit(x, y)
        for share in (0.1, 0.2, 0.3, 0.5):
            report(f"ridge + emotion head lambda={share:g}",
                   lambda z, s=share: (1 - s) * ridge.predict(z) + s * head.predict(z) @ expected)
        if gated:
            _gated_rows(d, head, ridge, report)


def _gated_rows(d, head: EmotionHead, ridge, report) -> None:
    """Arousal shifted only where the emotion head sees anger, fear or sadness (see the module docstring)."""
    aroused, calm = ["anger", "fear"], ["sadness"]
    columns = [list(head.labels).index(label) for label in aroused + calm]
    class_x = l2_normalise(np.vstack([d[f"{c}.train.x"] for c in CLASSES]))
    class_labels = np.concatenate([d[f"{c}.train.labels"] for c in CLASSES])
    keep = np.isin(class_labels, aroused + calm)
    readout = LogisticRegression(C=10, max_iter=3000).fit(class_x[keep], np.isin(class_labels[keep], aroused))
    for power in (1, 2):
        for beta in (0.1, 0.2, 0.4, 0.8, 1.6):
            def predict(z, b=beta, k=power):
                mass = head.predict(z)[:, columns].sum(1) ** k
                out = ridge.predict(z).copy()
                out[:, 1] += b * mass * (2 * readout.predict_proba(z)[:, 1] - 1)
                return out
            report(f"gated g^{power} beta={beta:g}", predict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed")
    e.add_argument("model")
    e.add_argument("out")
    h = sub.add_parser("heads")
    h.add_argument("embeddings")
    h.add_argument("--mlp", action="store_true")
    h.add_argument("--emotion-head", default=None, help="model folder whose emotion_head.json blends in")
    h.add_argument("--gated", action="store_true", help="with --emotion-head: arousal shifted where it sees anger, "
                   "fear or sadness")
    h.add_argument("--bound", action="store_true", help="logistic anger + fear vs sadness on the class texts")
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.model, args.out)
    else:
        heads(args.embeddings, mlp=args.mlp, emotion_head=args.emotion_head, linear_bound=args.bound,
              gated=args.gated)


if __name__ == "__main__":
    main()
