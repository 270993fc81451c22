"""Docs as tests: every example in README.md, CONTRIBUTING.md and docs/*.md runs as written.

The examples are read from the Markdown files themselves (never re-typed here), so an example
that stops working fails this module. CONTRIBUTING.md ("Examples in the documentation are
tests") tells authors the same rules.

What runs
    Fenced code blocks whose language is ``bash``, ``sh``, ``shell`` or ``console`` (each
    line a command; a trailing ``\\`` continues a line, ``#`` starts a comment, a leading
    ``$ `` is dropped) or ``python`` / ``py`` (the block runs with ``exec`` in a fresh
    namespace). Blocks in any other language (``csv``, ``json``, ``bibtex``, ``markdown``,
    none, ...) are illustrations and do not run; a block without a language that holds a
    command line (``carl ...``, ``python ...``) fails :func:`test_command_blocks_declare_a_language`.
    A command that exits non-zero, or a Python block that raises, fails its block's test.
    ``carl ...`` runs through the console script's entry point (``carl.cli.main``) inside
    this process, which saves the several seconds of a new interpreter per command (set
    ``CARL_DOCS_SUBPROCESS=1`` to run each in its own process); other lines run in ``bash``
    with this environment's Python first on ``PATH``; so do ``carl`` subcommands this module
    does not know (e.g. a server), with a time limit.

Directives: HTML comment lines immediately before a block's opening fence (they may stack)
    ``<!-- docs-test: skip — REASON -->``
        the block does not run; its test is reported as skipped with REASON (``—``, ``-`` or
        ``:`` may separate the reason). For long jobs and commands that need what a test
        machine lacks (the internet, a GPU, a package install).
    ``<!-- docs-test: args PREFIX -- ARGS -->``
        append ARGS to every command of the block that begins with the words PREFIX, e.g.
        ``args carl train -- --max-steps 2 --batch-size 8`` (an option given twice takes the
        last value, so this also shrinks ``--batch-size 64``); an empty PREFIX matches every
        command. For budgets only: what the command does must not change.
    Anything else after ``docs-test:`` fails the test, as does a directive that is not
    directly above a code block. A block without a directive runs exactly as written.

The working folder (one per session; blocks run in document order: README.md,
CONTRIBUTING.md, then docs/*.md alphabetically, each block sees what earlier ones made)
    * holds links to the checkout's ``src``, ``scripts``, ``.venv``, ``pyproject.toml`` and
      ``requirements`` (the lock scripts/bootstrap.sh reads), so that ``bash scripts/main.sh`` and ``--config src/carl/configs/cpu.yaml`` work as in
      the repository root while writing ``runs/`` here;
    * ``CARL_DATA_DIR`` points at a **miniature copy of the corpora** made by
      :func:`make_mini_corpora`: a few rows of every file (EmoBank: 64 / 24 / 24 rows of
      its train / dev / test), in the original formats, so every command reads real data at a
      CPU budget; ``HOME`` (hence the embedding cache) is inside the folder;
    * the files the examples read are written by :func:`write_inputs` with real-looking
      texts: ``texts.txt``, ``posts.csv`` (column ``body``), ``mine.csv`` / ``mine-dev.csv`` /
      ``mine-test.csv`` (``body,v,a`` on a 1-9 scale), ``posts.jsonl`` (``message, val, aro``
      on 0-100), ``my.csv`` (``text,V,A`` on 1-9);
    * ``runs/main/model`` is made by the README's main-job block (``bash scripts/main.sh``
      with its ``--max-steps 2`` directive; without the checkout's ``.venv``, by the
      ``carl run --max-steps 2`` that script runs), whichever test needs it first;
    * ``runs/s0/model`` … ``runs/s2/model`` (docs/evaluation.md's one-model-per-seed example)
      are links to ``runs/main/model``, prepared here.

The folder is deleted at the end of the session (models and checkpoints take ~4 GB);
``CARL_DOCS_KEEP=1`` keeps it for inspection.

Links and anchors of the same files are checked by tests/test_docs_links.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py"}
IN_PROCESS = {"train", "run", "embed", "predict-va", "evaluate", "finetune", "data", "reproduce"}
"""carl subcommands that finish on their own; others run in a subprocess with a time limit."""
TIMEOUT = int(os.environ.get("CARL_DOCS_TIMEOUT", "1800"))
"""Seconds a subprocess command may take (a guard against a command that never ends)."""

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


@dataclasses.dataclass
class Block:
    doc: pathlib.Path
    line: int                 # line of the opening fence (1-based)
    language: str
    code: str
    directives: list[str]

    @property
    def id(self) -> str:
        where = self.doc.relative_to(REPO).as_posix() if self.doc.is_relative_to(REPO) else self.doc.name
        return f"{where}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.language in SHELL | PYTHON


def parse_markdown(path: pathlib.Path) -> tuple[list[Block], list[str]]:
    """Fenced code blocks with the directives directly above them, and problems found
    (a directive that is not directly above a code block, an unclosed fence)."""
    blocks, problems, pending = [], [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        if directive:
            pending.append((i + 1, directive[1]))
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            marker, language = fence[2], fence[3].lower()
            body, j = [], i + 1
            while j < len(lines):
                close = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[j])
                if close and close[1][0] == marker[0] and len(close[1]) >= len(marker):
                    break
                body.append(lines[j])
                j += 1
            else:
                problems.append(f"{path.name}:{i + 1}: code block never closed")
            blocks.append(Block(path, i + 1, language, "\n".join(body) + "\n", [d for _, d in pending]))
            pending = []
            i = j + 1
            continue
        for number, text in pending:
            problems.append(f"{path.name}:{number}: directive {text!r} is not directly above a code block")
        pending = []
        i += 1
    for number, text in pending:
        problems.append(f"{path.name}:{number}: directive {text!r} is not directly above a code block")
    return blocks, problems


@dataclasses.dataclass
class Plan:
    skip: str | None
    args: list[tuple[list[str], list[str]]]   # (prefix words, appended words)


def plan_of(block: Block) -> Plan:
    plan = Plan(None, [])
    for text in block.directives:
        skip = re.fullmatch(r"skip(?:\s*[—–:-]\s*|\s+)(.+)", text, re.DOTALL)
        if skip:
            plan.skip = skip[1].strip()
            continue
        args = re.fullmatch(r"args\s*(.*?)\s*--\s+(.+)", text, re.DOTALL)
        if args:
            plan.args.append((shlex.split(args[1]), shlex.split(args[2])))
            continue
        raise AssertionError(f"{block.id}: unknown docs-test directive {text!r}; known: 'skip — REASON', "
                             "'args PREFIX -- ARGS' (see tests/test_docs.py)")
    return plan


def commands_of(block: Block) -> list[tuple[int, list[str]]]:
    """(line, words) of each command of a shell block, comments dropped, continuations joined."""
    commands, current, start = [], "", 0
    for offset, line in enumerate(block.code.splitlines(), start=block.line + 1):
        if not current:
            start = offset
            line = re.sub(r"^\s*\$ ", "", line)
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        words = shlex.split(current, comments=True)
        if words:
            commands.append((start, words))
        current = ""
    return commands


def with_args(words: list[str], plan: Plan) -> list[str]:
    out = list(words)
    for prefix, extra in plan.args:
        if out[:len(prefix)] == prefix:
            out += extra
    return out


ALL: list[Block] = []
PROBLEMS: list[str] = []
for _doc in DOCS:
    if _doc.is_file():
        _blocks, _problems = parse_markdown(_doc)
        ALL += _blocks
        PROBLEMS += _problems
RUNNABLE = [b for b in ALL if b.runnable]


# ------------------------------------------------------------------ the working folder


def make_mini_corpora(source: pathlib.Path, target: pathlib.Path) -> None:
    """A few rows of every corpus file of ``carl.data.CORPORA`` (and the NRC-VAD lexicon
    whole), in the original formats: a data folder every reader accepts, small enough for a
    CPU budget. Line-based files keep n lines spread evenly over the file (several are
    sorted by label); EmoBank keeps 64 / 24 / 24 rows of its official train / dev / test,
    Facebook-VA its first 150 lines."""
    import csv

    from carl.data import CORPORA
    from carl.data.registry import NRC_VAD

    lines_of = {"dailydialog": 8, "goemotions": 100, "tec": 100, "senteval-classic": 100, "mr": 50,
                "facebook-va": 150}  # default 60 lines
    files = {f for info in CORPORA.values() for f in info.files} | set(NRC_VAD.files)
    for relative in sorted(files):
        src, dst = source / relative, target / relative
        if not src.is_file():
            continue  # e.g. IEMOCAP, licensed and absent
        dst.parent.mkdir(parents=True, exist_ok=True)
        if relative.startswith("nrc-vad/"):
            shutil.copyfile(src, dst)
        elif relative == "emobank/corpus_emobank.csv":
            with open(src, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            wanted, out = {"train": 64, "dev": 24, "test": 24}, [rows[0]]
            split = rows[0].index("split")
            for row in rows[1:]:
                if wanted.get(row[split], 0) > 0:
                    wanted[row[split]] -= 1
                    out.append(row)
            with open(dst, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(out)
        else:  # n lines spread evenly over the file (some files are sorted by label), header kept
            n = lines_of.get(relative.split("/")[0], 60)
            lines = src.read_text(encoding="utf-8").split("\n")
            last = lines.pop() if lines and lines[-1] == "" else None
            keep = 1 if relative.startswith("carer-emotion/") else 0
            body = lines[keep:]
            if relative.startswith("facebook-va/"):
                picked = body[:n]  # its reader knows the release's defect by line number
            elif len(body) <= n:
                picked = body  # e.g. a label list
            else:
                picked = [body[i * len(body) // n] for i in range(min(n, len(body)))]
            dst.write_text("\n".join(lines[:keep] + picked) + ("\n" if last is not None else ""), encoding="utf-8",
                           newline="")


# Real-looking texts and their valence / arousal on a 1-9 scale: events, each in several contexts.
EVENTS = [
    ("I won the regional chess final", 8.6, 7.4), ("We finally got the keys to our first home", 8.4, 7.0),
    ("my sister had a healthy baby girl", 8.7, 6.8), ("the surgery went perfectly", 8.0, 5.9),
    ("I got the job I wanted", 8.5, 7.3), ("our team scored in the last minute", 8.1, 8.3),
    ("a stranger paid for my coffee", 7.2, 4.6), ("I passed my driving test", 8.0, 6.9),
    ("we spent a quiet evening reading", 6.9, 2.4), ("I watered the plants on the balcony", 5.8, 2.2),
    ("I took the usual bus to work", 5.0, 2.8), ("the meeting was moved to Thursday", 4.9, 3.3),
    ("I sorted the old invoices", 4.6, 2.6), ("the shop had run out of bread", 3.9, 3.9),
    ("my flight was delayed by four hours", 2.8, 6.1), ("I missed the last train home", 2.6, 6.4),
    ("the landlord raised the rent again", 2.4, 6.2), ("someone scratched my car", 2.3, 6.8),
    ("I failed the final exam", 1.9, 6.6), ("my dog is very sick", 1.8, 5.7),
    ("I lost my wallet with all my cards", 2.1, 7.2), ("the house next door caught fire", 1.7, 8.4),
    ("nobody came to my birthday party", 1.9, 4.3), ("I was laid off this morning", 1.6, 7.0),
]
CONTEXTS = ["{}.", "Today {}!", "Can't believe {}.", "Yesterday {}.", "Honestly, {}."]


def _rows():
    rows = []
    for c, context in enumerate(CONTEXTS):
        for e, (event, v, a) in enumerate(EVENTS):
            text = context.format(event)
            text = text[0].upper() + text[1:]
            jitter = ((e * 7 + c * 3) % 5 - 2) / 10
            rows.append((text, round(v + jitter, 1), round(a - jitter, 1)))
    order = sorted(range(len(rows)), key=lambda i: (i * 37) % len(rows))
    return [rows[i] for i in order]


def write_inputs(folder: pathlib.Path) -> None:
    """The input files the examples name, with real-looking texts (see the module docstring)."""
    import csv
    import json

    rows = _rows()                      # 120 distinct texts
    train, dev, test = rows[:60], rows[60:80], rows[80:120]

    def table(name, part, header=("body", "v", "a")):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(part)

    table("mine.csv", train)
    table("mine-dev.csv", dev)
    table("mine-test.csv", test)
    table("my.csv", rows[:40], header=("text", "V", "A"))
    (folder / "texts.txt").write_text("".join(f"{t}\n" for t, _, _ in rows[:12]), encoding="utf-8")
    with open(folder / "posts.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "body"])
        writer.writerows((i, t) for i, (t, _, _) in enumerate(rows[100:112], start=1))
    (folder / "posts.jsonl").write_text("".join(
        json.dumps({"message": t, "val": round((v - 1) * 12.5), "aro": round((a - 1) * 12.5)}) + "\n"
        for t, v, a in rows[:48]), encoding="utf-8")


@dataclasses.dataclass
class Workspace:
    path: pathlib.Path
    env: dict[str, str]
    outcomes: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """Block id -> None (passed) or the failure message, for blocks run by a fixture."""


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("docs-work")
    for name in ("src", "scripts", ".venv", "pyproject.toml", "requirements"):
        if (REPO / name).exists():
            (path / name).symlink_to(REPO / name)
    mini = path / "mini-data"
    make_mini_corpora(data_dir, mini)
    write_inputs(path)
    (path / "home").mkdir()
    env = {"CARL_DATA_DIR": str(mini), "HOME": str(path / "home"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    yield Workspace(path, env)
    if not os.environ.get("CARL_DOCS_KEEP"):  # ~4 GB of models and checkpoints; CARL_DOCS_KEEP=1 keeps them
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def inside(ws: Workspace):
    """cwd = the working folder, with its environment (CARL_CACHE_DIR unset: the default
    cache under HOME is the one docs/evaluation.md's Python example names)."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(ws.env)
    os.environ.pop("CARL_CACHE_DIR", None)
    os.chdir(ws.path)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_command(ws: Workspace, words: list[str]) -> tuple[int, str]:
    """Run one command line; (exit code, its output)."""
    if words[0] == "carl" and len(words) > 1 and words[1] in IN_PROCESS and not os.environ.get(
            "CARL_DOCS_SUBPROCESS"):
        from carl.cli import main

        out, err = io.StringIO(), io.StringIO()
        saved = sys.argv
        sys.argv = list(words)
        code = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved
        return code, out.getvalue() + err.getvalue()
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        done = subprocess.run(["bash", "-c", shlex.join(words)], capture_output=True, text=True, env=env,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        said = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (exc.stdout, exc.stderr)]
        return 124, f"timed out after {TIMEOUT} s\n{''.join(said)}"
    return done.returncode, done.stdout + done.stderr


def execute(ws: Workspace, block: Block) -> None:
    """Run a block in the working folder; AssertionError with the output on failure."""
    plan = plan_of(block)
    with inside(ws):
        if block.language in PYTHON:
            try:
                exec(compile(block.code, block.id, "exec"), {"__name__": "__docs__"})
            except Exception as exc:  # noqa: BLE001 - any failure of the example is the test's failure
                raise AssertionError(f"{block.id}: the Python example raised {type(exc).__name__}: {exc}") from exc
            return
        for line, words in commands_of(block):
            words = with_args(words, plan)
            started = time.time()
            code, output = run_command(ws, words)
            print(f"{block.doc.name}:{line}: {shlex.join(words)}  [{time.time() - started:.1f} s, exit {code}]")
            if code != 0:
                raise AssertionError(f"{block.doc.name}:{line}: `{shlex.join(words)}` exited with {code}:\n"
                                     f"{output[-4000:]}")


def _main_job_block() -> Block:
    return next(b for b in RUNNABLE if b.doc.name == "README.md" and "bash scripts/main.sh" in b.code)


def ensure_main_model(ws: Workspace) -> None:
    """runs/main/model, made by the README's main-job block, and the per-seed links to it."""
    block = _main_job_block()
    if block.id not in ws.outcomes:
        try:
            if (REPO / ".venv" / "bin" / "carl").exists():
                execute(ws, block)
            else:  # what scripts/main.sh runs, without the set-up it would do in a fresh .venv
                with inside(ws):
                    code, output = run_command(ws, ["carl", "run", *with_args(["bash", "scripts/main.sh"],
                                                                              plan_of(block))[2:]])
                assert code == 0, output[-4000:]
            ws.outcomes[block.id] = None
        except AssertionError as err:
            ws.outcomes[block.id] = str(err)
    if ws.outcomes[block.id] is not None:
        pytest.fail(f"the main job's block ({block.id}), which makes runs/main/model, failed:\n"
                    f"{ws.outcomes[block.id]}")
    for seed in range(3):
        link = ws.path / "runs" / f"s{seed}" / "model"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(pathlib.Path("..") / "main" / "model")


# ------------------------------------------------------------------ the tests


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_example(block: Block, workspace: Workspace):
    plan = plan_of(block)
    if plan.skip:
        pytest.skip(f"{block.id}: not run: {plan.skip}")
    ensure_main_model(workspace)
    if block is _main_job_block():
        return  # ran (and passed) in ensure_main_model
    execute(workspace, block)


def test_the_examples_were_found():
    assert {b.doc.name for b in RUNNABLE} >= {"README.md", "evaluation.md", "data.md"}
    assert any("carl train --data \"mine.csv:text=body,valence=v,arousal=a\"" in b.code for b in RUNNABLE)


def test_directives_are_well_formed():
    assert not PROBLEMS, "\n".join(PROBLEMS)
    for block in ALL:
        plan_of(block)  # raises on an unknown directive
        if block.directives and not block.runnable:
            raise AssertionError(f"{block.id}: a docs-test directive above a {block.language or 'plain'} block, "
                                 "which never runs")


def test_command_blocks_declare_a_language():
    command = re.compile(r"^\s*(\$ )?(carl|python|python3|bash|pip)\s+\S")
    for block in ALL:
        if not block.language:
            lines = [line for line in block.code.splitlines() if command.match(line)]
            assert not lines, (f"{block.id}: a code block without a language holds commands {lines}; mark it "
                               "```bash (it then runs) or give it a skip directive")


def test_own_data_example_is_tested_as_written():
    """The issue's acceptance: the README's own-data command trains on a table with columns body, v, a."""
    block = next(b for b in RUNNABLE if b.doc.name == "README.md" and "mine.csv:text=body" in b.code)
    assert plan_of(block).skip is None
    words = commands_of(block)[0][1]
    assert words[:3] == ["carl", "train", "--data"] and words[3] == "mine.csv:text=body,valence=v,arousal=a"


# ------------------------------------------------------------------ the machinery itself


def test_parser_directives_and_a_broken_example_fail(tmp_path):
    """A synthetic document: directives are read, commands split, and a failing example fails."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n<!-- docs-test: skip — needs a GPU -->\n```bash\ncarl train --model gpu-only\n```\n\n"
        "<!-- docs-test: args carl train -- --max-steps 2 -->\n<!-- docs-test: args -- --seed 3 -->\n"
        "```bash\n$ carl train --data a,b \\\n    --batch-size 64   # comment\ncarl embed m --input x\n```\n\n"
        "````markdown\n<!-- docs-test: skip — inside a code block: not a directive -->\n```bash\nnot run\n```\n````\n\n"
        "```python\nraise RuntimeError('broken example')\n```\n\n"
        "```bash\ncarl train --data no-such-corpus --max-steps 1\n```\n\n"
        "<!-- docs-test: args -->\n```bash\ntrue\n```\n\n<!-- docs-test: skip — stray -->\ntext\n")
    blocks, problems = parse_markdown(doc)
    assert [b.language for b in blocks] == ["bash", "bash", "markdown", "python", "bash", "bash"]
    assert problems == ["doc.md:36: directive 'skip — stray' is not directly above a code block"]
    assert plan_of(blocks[0]).skip == "needs a GPU"
    plan = plan_of(blocks[1])
    commands = [with_args(words, plan) for _, words in commands_of(blocks[1])]
    assert commands == [["carl", "train", "--data", "a,b", "--batch-size", "64", "--max-steps", "2", "--seed", "3"],
                        ["carl", "embed", "m", "--input", "x", "--seed", "3"]]
    assert blocks[2].directives == [] and "<!-- docs-test: skip" in blocks[2].code
    with pytest.raises(AssertionError, match="unknown docs-test directive 'args'"):
        plan_of(blocks[5])
    ws = Workspace(tmp_path, {"CARL_DATA_DIR": str(tmp_path)})
    with pytest.raises(AssertionError, match="RuntimeError: broken example"):
        execute(ws, blocks[3])
    with pytest.raises(AssertionError, match=r"exited with 2:\n.*no-such-corpus"):
        execute(ws, blocks[4])
