#!/usr/bin/env python3
"""Step time of a CARL step vs supervised fine-tuning and SimCSE on the same encoder.

Every method gets its own copy of the same pretrained encoder, the same fixed-length
batches of real text (every row exactly --seq-len tokens, no padding), the same optimiser
(AdamW with carl's two learning-rate groups, linear warmup schedule, gradient clipping)
and runs in this one process, interleaved round by round (A B C ... A B C ...) so that
drift (thermal, a neighbour's load) hits every method alike. A step is timed from a
device synchronisation to the next, and includes the optimiser step (and, for CARL, the
EMA update of the target branch), as ``carl.training.trainer.train`` runs it.

Methods
  carl             CarlStep with the configuration's defaults (pgd_steps=1, PTD on)
  carl_phases      the same step, re-implemented here with a timer (and device sync) between
                   phases: gives the per-phase breakdown; its whole-step time is checked
                   against ``carl``
  supervised       encoder -> mean pool -> linear head -> cross-entropy (4 V-A quadrant classes)
  simcse           unsupervised SimCSE: the batch twice through the encoder with dropout
                   (one forward over the 2N stacked rows, as the SimCSE code does; or two
                   forwards with --simcse-views separate), in-batch InfoNCE, temperature 0.05
  carl_pgd3        CARL with ptd.pgd_steps=3 (two extra forward+backward passes w.r.t. delta)
  carl_no_ptd      CARL with ptd.enabled=false (MCCL only)
  carl_no_finite_check  CARL with train.check_finite=false (default on CUDA only: the check
                   costs two host-device syncs per step there, nothing on CPU)

Quick smoke run (not a result):  python benchmarks/step_cost.py --quick
Full CPU run (quiet machine):   python benchmarks/step_cost.py
GPU (bf16, base size):          python benchmarks/step_cost.py --model mpnet --device cuda --precision bf16 \
                                    --batch-size 64 --seq-len 128
"""

from __future__ import annotations

import argparse
import math
import pathlib
import statistics
import time

import torch
import torch.nn.functional as F

import _bench as B

from carl.config import CarlConfig
from carl.losses import perturb_salient_tokens
from carl.losses.functional import cosine_momentum, mean_pool
from carl.network.carl import CarlModel
from carl.training.step import CarlStep, embedding_spread
from carl.training.trainer import build_optimizer

SCHEDULE_STEPS = 100_000  # length of the LR schedule; the values do not change the cost of a step


# ---------------------------------------------------------------------------
# methods: each has .step(batch, i) that runs one full optimisation step
# ---------------------------------------------------------------------------


class CarlRunner:
    """One training step exactly as carl.training.trainer.train runs it on one process."""

    def __init__(self, encoder, config: CarlConfig, device, precision: str, fused: bool | None = None):
        self.config, self.device, self.precision = config, device, precision
        self.model = CarlModel.from_config(B.clone_encoder(encoder), config.model, config.mccl).to(device)
        self.model.train()
        fused = device.type in ("cuda", "cpu") if fused is None else fused  # None: as the trainer
        self.optimizer, self.scheduler = build_optimizer(self.model, config, SCHEDULE_STEPS, fused=fused)
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self.step_fn = CarlStep(config, lambda loss: loss.backward(), self.generator)

    def step(self, batch, i: int):
        with B.autocast(self.device, self.precision):
            out = self.step_fn(self.model, batch, i)
        self._optimise(i)
        self._ema(i)
        return out

    def _optimise(self, i: int):
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _ema(self, i: int):
        self.model.update_target(cosine_momentum(i, SCHEDULE_STEPS, self.config.mccl.base_momentum))


class CarlPhaseRunner(CarlRunner):
    """A copy of CarlStep.__call__ (one process) with a timer between phases.

    Keep in step with src/carl/training/step.py: ``verify_phase_copy`` runs both on the same
    weights and RNG state at start-up and reports (in the JSON) whether they agree.

    Phases (each closed by a device synchronisation):
      online_forward     word embeddings + online encoder
      target_forward     EMA target encoder + projection, no autograd
      mccl_heads_loss    projection + prediction heads + MCCL loss (+ finiteness check)
      mccl_backward      backward of w_MCCL * L_MCCL (also yields dL/de_t, the saliency's source)
      saliency_select    saliency ||dL/de_t||^2 and top-10 % token mask
      pgd                the PGD steps: step 1 reuses the MCCL gradient (elementwise only);
                         steps 2..K each run an online forward+backward w.r.t. delta
      perturbed_forward  online encoder on e + delta, discriminator, focal loss
      perturbed_backward backward of w_PTD * L_PTD
      optimizer          gradient clipping, AdamW step, LR schedule, zero_grad
      ema                target <- EMA of online (encoder + projection)
    """

    PHASES = ["online_forward", "target_forward", "mccl_heads_loss", "mccl_backward", "saliency_select", "pgd",
              "perturbed_forward", "perturbed_backward", "optimizer", "ema"]
    GROUPS = {
        "online forward (encoder + heads + MCCL loss)": ["online_forward", "mccl_heads_loss"],
        "target forward": ["target_forward"],
        "MCCL backward (incl. saliency + top-k)": ["mccl_backward", "saliency_select"],
        "PGD (step 1 free; extra steps)": ["pgd"],
        "perturbed forward + backward (discriminator)": ["perturbed_forward", "perturbed_backward"],
        "optimiser + EMA": ["optimizer", "ema"],
    }

    def step(self, batch, i: int):
        times = {}
        sync = B.synchronize
        dev = self.device
        model, fn = self.model, self.step_fn
        mccl_cfg, ptd_cfg = self.config.mccl, self.config.ptd
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        sync(dev)
        t0 = last = time.perf_counter()

        def mark(name):
            nonlocal last
            sync(dev)
            now = time.perf_counter()
            times[name] = now - last
            last = now

        with B.autocast(dev, self.precision):
            embeddings = model.word_embeddings(ids)
            if ptd_cfg.enabled:
                embeddings.retain_grad()
            pooled = model.pool(model.online_hidden(embeddings, mask), mask)
            embedding_spread(pooled.detach())
            mark("online_forward")
            target = model.target_projection_of(ids, mask)
            mark("target_forward")
            mccl = fn.global_mccl(model, pooled, target, labels)
            fn._check(mccl, "MCCL", i)
            mark("mccl_heads_loss")
            if mccl_cfg.enabled:
                (mccl * mccl_cfg.weight).backward()
                grad = embeddings.grad if ptd_cfg.enabled else None
            else:
                grad = torch.autograd.grad(mccl, embeddings)[0] if ptd_cfg.enabled else None
            mark("mccl_backward")
            ptd = None
            if ptd_cfg.enabled:
                selected = fn.select_tokens(grad, batch["candidates"])
                mark("saliency_select")
                delta = perturb_salient_tokens(
                    embeddings.detach(), grad, selected,
                    epsilon=ptd_cfg.epsilon, relative_epsilon=ptd_cfg.relative_epsilon,
                    steps=ptd_cfg.pgd_steps, step_scale=ptd_cfg.pgd_step_scale,
                    loss_grad=lambda d: fn.mccl_grad_wrt_delta(model, embeddings.detach(), d, mask, target, labels),
                )
                mark("pgd")
                perturbed = model.word_embeddings(ids) + delta.to(embeddings.dtype)
                logits = model.discriminate(model.online_hidden(perturbed, mask))
                valid = mask.bool()
                local_tokens = valid.sum().float()
                share = local_tokens / local_tokens.clamp_min(1.0)  # world size 1
                ptd = fn.focal_loss(logits, selected, valid) * share
                fn._check(ptd, "PTD", i)
                mark("perturbed_forward")
                (ptd * ptd_cfg.weight).backward()
                mark("perturbed_backward")
        self._optimise(i)
        mark("optimizer")
        self._ema(i)
        mark("ema")
        self.last_phases = times
        self.last_total = last - t0
        return mccl.detach(), (None if ptd is None else ptd.detach())


class SupervisedRunner:
    """Plain supervised fine-tuning: encoder -> mean pool -> linear head -> CE, backward, AdamW."""

    def __init__(self, encoder, config: CarlConfig, device, precision: str, fused: bool | None = None,
                 num_classes: int = 4):
        self.device, self.precision, self.config = device, precision, config
        self.encoder = B.clone_encoder(encoder).to(device).train()
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, num_classes).to(device)
        self.params = list(self.encoder.parameters()) + list(self.head.parameters())
        self.optimizer, self.scheduler = _adamw([*self.encoder.parameters()], [*self.head.parameters()], config, device,
                                                fused)

    def step(self, batch, i: int):
        with B.autocast(self.device, self.precision):
            hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            logits = self.head(mean_pool(hidden, batch["attention_mask"]))
            loss = F.cross_entropy(logits.float(), batch["class_labels"])
            loss.backward()
        _finish(self.params, self.optimizer, self.scheduler, self.config)
        return loss.detach()


class SimCSERunner:
    """Unsupervised SimCSE (Gao et al. 2021): two dropout views, in-batch InfoNCE (MNRL-style)."""

    def __init__(self, encoder, config: CarlConfig, device, precision: str, fused: bool | None = None,
                 views: str = "concat", temperature: float = 0.05):
        self.device, self.precision, self.config = device, precision, config
        self.views, self.temperature = views, temperature
        self.encoder = B.clone_encoder(encoder).to(device).train()
        self.params = list(self.encoder.parameters())
        self.optimizer, self.scheduler = _adamw(self.params, [], config, device, fused)

    def _embed(self, ids, mask):
        return mean_pool(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def step(self, batch, i: int):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        n = ids.shape[0]
        with B.autocast(self.device, self.precision):
            if self.views == "concat":
                z = self._embed(torch.cat([ids, ids]), torch.cat([mask, mask]))
                z1, z2 = z[:n], z[n:]
            else:
                z1, z2 = self._embed(ids, mask), self._embed(ids, mask)
            sim = F.normalize(z1.float(), dim=-1) @ F.normalize(z2.float(), dim=-1).T / self.temperature
            loss = F.cross_entropy(sim, torch.arange(n, device=sim.device))
            loss.backward()
        _finish(self.params, self.optimizer, self.scheduler, self.config)
        return loss.detach()


def _adamw(encoder_params, head_params, config: CarlConfig, device, fused: bool | None = None):
    from transformers import get_linear_schedule_with_warmup

    tc = config.train
    groups = [{"params": encoder_params, "lr": tc.learning_rate, "weight_decay": tc.weight_decay}]
    if head_params:
        groups.append({"params": head_params, "lr": tc.head_learning_rate, "weight_decay": tc.weight_decay})
    fused = device.type in ("cuda", "cpu") if fused is None else fused
    optimizer = torch.optim.AdamW(groups, fused=fused or None)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(tc.warmup_ratio * SCHEDULE_STEPS), SCHEDULE_STEPS)


def _finish(params, optimizer, scheduler, config: CarlConfig):
    torch.nn.utils.clip_grad_norm_(params, config.train.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------


def verify_phase_copy(encoder, config, device, precision, batch) -> dict:
    """The instrumented copy computes what CarlStep computes: same losses, same gradients.

    Both start from identical weights and the same RNG state (dropout) and run one step's
    forward and backward passes (optimiser and EMA left out, so the gradients can be compared).
    """
    ref = CarlRunner(encoder, config, device, precision)
    inst = CarlPhaseRunner(encoder, config, device, precision)
    inst.model.load_state_dict(ref.model.state_dict())
    for runner in (ref, inst):
        runner._optimise = lambda i: None
        runner._ema = lambda i: None

    def seeded(fn):
        torch.manual_seed(1234)
        if device.type == "cuda":
            torch.cuda.manual_seed_all(1234)
        return fn(batch, 0)

    out = seeded(ref.step)
    mccl, ptd = seeded(inst.step)
    worst = 0.0
    for (name, a), b in zip(ref.model.named_parameters(), inst.model.parameters()):
        if a.grad is None and b.grad is None:
            continue
        if (a.grad is None) != (b.grad is None):
            worst = float("inf")
            break
        worst = max(worst, ((a.grad - b.grad).norm() / a.grad.norm().clamp_min(1e-30)).item())
    tol = 1e-5 if device.type == "cpu" and precision == "fp32" else 2e-2  # GPU backward is not bit-deterministic
    result = {"mccl_ref": out.mccl.item(), "mccl_copy": mccl.item(),
              "ptd_ref": out.ptd.item(), "ptd_copy": None if ptd is None else ptd.item(),
              "max_relative_grad_diff": worst, "tolerance": tol}
    result["ok"] = bool(math.isclose(result["mccl_ref"], result["mccl_copy"], rel_tol=1e-3, abs_tol=1e-6)
                        and (ptd is None or math.isclose(result["ptd_ref"], result["ptd_copy"], rel_tol=1e-2, abs_tol=1e-7))
                        and worst <= tol)
    del ref, inst
    return result


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm", help="encoder alias/path (minilm, mpnet, ...)")
    p.add_argument("--weights", choices=["auto", "pretrained", "random"], default="auto",
                   help="auto: pretrained if a local copy resolves, else random init from benchmarks/assets/MODEL")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: bf16 on cuda, fp32 on cpu")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=None, help="tokens per row, special tokens included")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (each runs every method once)")
    p.add_argument("--batches", type=int, default=None, help="distinct batches cycled through")
    p.add_argument("--methods", default=None,
                   help="comma list; default carl,carl_phases,supervised,simcse,carl_pgd3,carl_no_ptd "
                        "(+ carl_no_finite_check on CUDA, where the finiteness check syncs host and device)")
    p.add_argument("--simcse-views", choices=["concat", "separate"], default="concat")
    p.add_argument("--fused-adamw", choices=["auto", "on", "off"], default="auto",
                   help="AdamW implementation of every method; auto = as the trainer (fused on CPU and CUDA)")
    p.add_argument("--set", action="append", help="carl config override KEY=VALUE for every CARL method "
                   "(repeatable), e.g. train.check_finite=false")
    p.add_argument("--compile", action="store_true", help="torch.compile every method's encoder (as train.compile=true)")
    p.add_argument("--config", default=None, help="carl YAML config whose model/mccl/ptd/train settings to use")
    p.add_argument("--texts", default=None, help="CSV with text,V,A (default: EmoBank beside the repo, else the sample)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-verify", action="store_true", help="skip the check that the phase copy equals CarlStep")
    p.add_argument("--out", default=None, help="output path stem (default benchmarks/results/step_cost_MODEL_DEVICE[_quick])")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: batch 8, seq 16, 1 warm-up, 3 rounds, 2 batches (each unless given explicitly)")
    args = p.parse_args(argv)
    defaults = dict(batch_size=8, seq_len=16, warmup=1, rounds=3, batches=2) if args.quick else \
        dict(batch_size=32, seq_len=64, warmup=3, rounds=20, batches=4)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = B.pick_device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    env = B.environment(device)

    config = CarlConfig.load(args.config) if args.config else CarlConfig()
    overrides = {"train.batch_size": args.batch_size}  # precision: --precision (autocast here)
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = value
    config = config.override(overrides)
    loaded = B.load_bench_encoder(args.model, args.weights, args.seed)
    texts, labels, text_source = B.read_texts(args.texts, limit=20_000)
    batches = B.fixed_length_batches(loaded.tokenizer, texts, labels, args.batch_size, args.seq_len, args.batches, device)
    print(f"[step_cost] {loaded.name} ({loaded.source}) on {env['gpu'] or env['cpu']}, {precision}, "
          f"batch {args.batch_size} x {args.seq_len} tokens, {args.warmup} warm-up + {args.rounds} timed rounds", flush=True)

    if args.methods is None:
        args.methods = "carl,carl_phases,supervised,simcse,carl_pgd3,carl_no_ptd" + (
            ",carl_no_finite_check" if device.type == "cuda" else "")
    verification = None
    if "carl_phases" in args.methods and not args.no_verify:
        verification = verify_phase_copy(loaded.model, config, device, precision, batches[0])
        print(f"[step_cost] phase copy == CarlStep: {verification['ok']} {verification}", flush=True)

    fused = {"auto": None, "on": True, "off": False}[args.fused_adamw]
    factories = {
        "carl": lambda: CarlRunner(loaded.model, config, device, precision, fused),
        "carl_phases": lambda: CarlPhaseRunner(loaded.model, config, device, precision, fused),
        "supervised": lambda: SupervisedRunner(loaded.model, config, device, precision, fused),
        "simcse": lambda: SimCSERunner(loaded.model, config, device, precision, fused, views=args.simcse_views),
        "carl_pgd3": lambda: CarlRunner(loaded.model, config.override({"ptd.pgd_steps": 3}), device, precision, fused),
        "carl_no_ptd": lambda: CarlRunner(loaded.model, config.override({"ptd.enabled": False}), device, precision, fused),
        "carl_no_finite_check": lambda: CarlRunner(loaded.model, config.override({"train.check_finite": False}),
                                                   device, precision, fused),
    }
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(factories)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; known: {list(factories)}")
    model_info = loaded.describe()
    runners = {m: factories[m]() for m in methods}
    loaded.model = None  # every runner holds its own copy
    if args.compile:
        for runner in runners.values():
            (runner.model.encoder if hasattr(runner, "model") else runner.encoder).compile(dynamic=True)

    samples: dict[str, list[float]] = {m: [] for m in methods}
    phase_samples: list[dict[str, float]] = []
    phase_totals: list[float] = []
    for r in range(args.warmup + args.rounds):
        batch = batches[r % len(batches)]
        timed = r >= args.warmup
        for m in methods:
            with B.Stopwatch(device) as sw:
                runners[m].step(batch, r)
            if timed:
                samples[m].append(sw.seconds)
                if m == "carl_phases":
                    phase_samples.append(dict(runners[m].last_phases))
                    phase_totals.append(sw.seconds)
        label = "warm-up" if not timed else f"round {r - args.warmup + 1}/{args.rounds}"
        print(f"[step_cost] {label}: " + ", ".join(f"{m} {1000 * samples[m][-1]:.0f} ms" if timed else m for m in methods),
              flush=True)
    B.finish_environment(env)

    stats = {m: B.summarize(s) for m, s in samples.items()}
    payload = {
        "benchmark": "step_cost",
        "quick": args.quick,
        "environment": env,
        "settings": {"model": model_info, "precision": precision, "batch_size": args.batch_size,
                     "seq_len": args.seq_len, "warmup_rounds": args.warmup, "timed_rounds": args.rounds,
                     "distinct_batches": args.batches, "texts": text_source, "simcse_views": args.simcse_views,
                     "fused_adamw": args.fused_adamw, "compile": args.compile, "overrides": overrides,
                     "carl_config": {k: config.to_dict()[k] for k in ("model", "mccl", "ptd")},
                     "optimizer": "AdamW (fused on cuda), encoder lr / head lr groups, linear warmup schedule, "
                                  f"clip_grad_norm {config.train.max_grad_norm}"},
        "methods": stats,
        "samples_ms": {m: [round(1000 * s, 3) for s in v] for m, v in samples.items()},
        "phase_copy_check": verification,
    }

    ratios = {}
    for a, b in [("carl", "supervised"), ("carl", "simcse"), ("carl_pgd3", "supervised"), ("carl_pgd3", "simcse"),
                 ("carl_no_ptd", "supervised"), ("carl_no_ptd", "simcse"), ("carl_pgd3", "carl"), ("carl_no_ptd", "carl"),
                 ("carl_no_finite_check", "carl")]:
        if a in samples and b in samples and samples[a] and samples[b]:
            paired = [x / y for x, y in zip(samples[a], samples[b])]
            ratios[f"{a}/{b}"] = {"ratio_of_medians": round(stats[a]["median_ms"] / stats[b]["median_ms"], 3),
                                  "median_of_paired_ratios": round(statistics.median(paired), 3)}
    payload["ratios"] = ratios

    if phase_samples:
        phases = {p: B.summarize([s[p] for s in phase_samples if p in s]) for p in CarlPhaseRunner.PHASES
                  if any(p in s for s in phase_samples)}
        sums = [sum(s.values()) for s in phase_samples]
        phase_sum_median = 1000 * statistics.median(sums)
        groups = {g: round(sum(phases[p]["median_ms"] for p in ps if p in phases), 3)
                  for g, ps in CarlPhaseRunner.GROUPS.items()}
        payload["phases"] = {
            "per_phase": phases,
            "groups_median_ms": groups,
            "phase_sum_median_ms": round(phase_sum_median, 3),
            "instrumented_step_median_ms": stats["carl_phases"]["median_ms"],
            "sum_of_phase_medians_ms": round(sum(v["median_ms"] for v in phases.values()), 3),
        }
        if "carl" in stats:
            ref = stats["carl"]["median_ms"]
            payload["phases"]["carl_step_median_ms"] = ref
            payload["phases"]["phase_sum_vs_carl_step_pct"] = round(100 * (phase_sum_median / ref - 1), 2)
            payload["phases"]["instrumented_vs_carl_step_pct"] = round(100 * (stats["carl_phases"]["median_ms"] / ref - 1), 2)

    stem = pathlib.Path(args.out) if args.out else B.RESULTS / (
        f"step_cost_{pathlib.Path(args.model).name}_{device.type}" + ("_quick" if args.quick else ""))
    json_path, md_path = B.write_report(stem, payload, markdown(payload))
    print(markdown(payload))
    print(f"[step_cost] wrote {json_path} and {md_path}")
    return payload


def markdown(payload: dict) -> str:
    env, st = payload["environment"], payload["settings"]
    title = "CARL step cost" + (" (QUICK SMOKE RUN: not a result)" if payload["quick"] else "")
    out = [f"# {title}\n\n", B.environment_markdown(env),
           f"- encoder: {st['model']['name']} ({st['model']['source']}; {st['model']['parameters'] / 1e6:.1f} M parameters), "
           f"{st['precision']}, batch {st['batch_size']} x {st['seq_len']} tokens (fixed length, real text: {st['texts']}), "
           f"{st['warmup_rounds']} warm-up + {st['timed_rounds']} timed interleaved rounds\n\n",
           "## Step time (medians over timed rounds)\n\n"]
    rows = [[m, s["median_ms"], f"{s['p25_ms']}–{s['p75_ms']}", s["n"]] for m, s in payload["methods"].items()]
    out.append(B.table(["method", "median ms/step", "IQR ms", "n"], rows))
    if payload["ratios"]:
        out.append("\n## Ratios\n\n")
        out.append(B.table(["ratio", "of medians", "median of paired (same-round) ratios"],
                           [[k, v["ratio_of_medians"], v["median_of_paired_ratios"]] for k, v in payload["ratios"].items()]))
        out.append("\nIssue targets: carl/supervised <= 2.4 with one PGD step; carl/simcse <= 1.25.\n")
    ph = payload.get("phases")
    if ph:
        total = ph["sum_of_phase_medians_ms"] or 1.0
        out.append("\n## CARL step, per phase (instrumented copy, device sync after each phase)\n\n")
        out.append(B.table(["phase", "median ms", "share"],
                           [[p, v["median_ms"], f"{100 * v['median_ms'] / total:.1f} %"] for p, v in ph["per_phase"].items()]))
        out.append("\n")
        out.append(B.table(["group", "median ms", "share"],
                           [[g, v, f"{100 * v / total:.1f} %"] for g, v in ph["groups_median_ms"].items()]))
        line = f"\nPhase sum (median of per-step sums) {ph['phase_sum_median_ms']} ms; instrumented whole step {ph['instrumented_step_median_ms']} ms"
        if "carl_step_median_ms" in ph:
            line += (f"; uninstrumented CARL step {ph['carl_step_median_ms']} ms: phase sum "
                     f"{ph['phase_sum_vs_carl_step_pct']:+.1f} %, instrumented step {ph['instrumented_vs_carl_step_pct']:+.1f} %")
        out.append(line + ".\n")
    chk = payload.get("phase_copy_check")
    if chk:
        out.append(f"\nPhase copy reproduces CarlStep (same losses and gradients on one batch): {chk['ok']} "
                   f"(MCCL {chk['mccl_ref']:.6f} vs {chk['mccl_copy']:.6f}, largest relative gradient difference "
                   f"{chk['max_relative_grad_diff']:.2e}, tolerance {chk['tolerance']:.0e}).\n")
    return "".join(out)


if __name__ == "__main__":
    main()
