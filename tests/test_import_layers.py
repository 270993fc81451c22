"""The import graph of src/carl: layers one way, no circles, inference free of training (CONTRIBUTING.md,
"Layout"); function-local imports only where they say why; old import paths still working.

The layers are the import-linter contract in pyproject.toml (``[tool.importlinter]``), run here
with ``lint-imports`` so that CI fails, with import-linter's own explanation, when an import goes
the wrong way or closes a circle.
"""

from __future__ import annotations

import ast
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "carl"

#: old module paths (issue 42) and where a name they held now lives
MOVED_NAMES = {
    "carl.export": {"load": "carl.inference.embedder", "CarlEmbedder": "carl.inference.embedder",
                    "export_sentence_transformer": "carl.inference.export",
                    "interpolate_with_base": "carl.inference.interpolation"},
    "carl.onnx_backend": {"OnnxEmbedder": "carl.inference.onnx_backend", "export_onnx": "carl.inference.onnx_backend"},
    "carl.model": {"CarlModel": "carl.network.carl", "load_encoder": "carl.inference.encoders"},
    "carl.model.carl": {"CarlModel": "carl.network.carl"},
    "carl.model.embedding": {"encode_texts": "carl.network.embedding"},
    "carl.model.heads": {"TokenDiscriminator": "carl.network.heads"},
    "carl.model.encoder": {"resolve_model_path": "carl.inference.encoders"},
    "carl.model.interpolation": {"interpolate_weights": "carl.inference.interpolation"},
    "carl.model.streaming": {"StreamingMixin": "carl.inference.streaming"},
}
VA_HEAD_NAMES = {"VAHead": "carl.inference.heads.va", "HEAD_FILE": "carl.inference.heads.va",
                 "fit_va_head": "carl.evaluation.head_fitting", "train_va_head": "carl.evaluation.head_fitting",
                 "TooFewTexts": "carl.evaluation.head_fitting", "predict_va": "carl.inference.embedder"}
LOCAL_IMPORT_REASONS = ("# lazy:", "# optional:")


def test_import_contract_holds():
    """``lint-imports`` keeps every contract of pyproject.toml; its report is the failure message."""
    try:
        import importlinter  # noqa: F401
    except ImportError:
        pytest.fail('import-linter is not installed: pip install -e ".[dev]" (or pip install import-linter)')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                                                 "sys.exit(lint_imports_command())", "--no-cache"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"lint-imports failed (see CONTRIBUTING.md, 'Layout'):\n{report}"
    assert "broken" in report and "0 broken" in report, report


def _imports(path: pathlib.Path):
    """(node, inside a function) for every ``import``/``from ... import`` of a carl module in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    local = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "carl":
            yield node, node.module, id(node) in local
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "carl":
                    yield node, alias.name, id(node) in local


def test_function_local_imports_say_why():
    """A ``from carl... import`` inside a function stays only to keep start-up fast or an optional
    dependency optional, and its line says which (``# lazy: ...`` / ``# optional: ...``)."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, module, local in _imports(path):
            if local and not any(reason in lines[node.lineno - 1] for reason in LOCAL_IMPORT_REASONS):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not unexplained, ("function-local imports without '# lazy: <why>' or '# optional: <package>' "
                             "(move them to the top of the module, or say why they wait):\n" + "\n".join(unexplained))


@pytest.mark.parametrize("folder", ["src", "tests", "scripts", "benchmarks"])
def test_nothing_uses_the_old_import_paths(folder):
    """The moved modules are answered for users only; the repository itself imports the new paths."""
    old = set(MOVED_NAMES)
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if path.name == "test_import_layers.py":
            continue
        for node, module, _ in _imports(path):
            if module in old or (module == "carl.va_head" and path.parent != PACKAGE):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
    assert not found, "old import paths (see carl/_moved.py for the new ones):\n" + "\n".join(found)


@pytest.mark.parametrize("old", sorted(MOVED_NAMES))
def test_old_import_paths_still_work_with_a_deprecation_warning(old):
    for name in [n for n in list(sys.modules) if n == old or n.startswith(old + ".")]:
        del sys.modules[name]
    with pytest.warns(DeprecationWarning, match=f"{old} moved to"):
        module = importlib.import_module(old)
    for name, new in MOVED_NAMES[old].items():
        assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_va_head_names_moved_with_a_warning_and_its_command_stayed():
    import carl.va_head
    from carl.evaluation.head_fitting import main

    assert carl.va_head.main is main  # `python -m carl.va_head MODEL` is documented: no warning for it
    for name, new in VA_HEAD_NAMES.items():
        with pytest.warns(DeprecationWarning, match=f"carl.va_head.{name} moved to {new}"):
            value = getattr(carl.va_head, name)
        assert value is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        carl.va_head.no_such_name  # noqa: B018


def test_importing_carl_stays_light():
    """``import carl`` (and with it every ``carl`` command's start) loads no heavy library and no
    moved module; ``carl.load`` loads :mod:`carl.inference` on first use."""
    code = ("import sys, warnings; warnings.simplefilter('error'); import carl; "
            "heavy = [m for m in ('numpy', 'torch', 'transformers', 'sentence_transformers', 'sklearn') "
            "if m in sys.modules]; print(heavy, sorted(m for m in sys.modules if m.startswith('carl')))")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] ['carl', 'carl._moved']", done.stdout


def test_inference_does_not_load_training_code():
    """Loading the model users get imports nothing of training, evaluation, scoring or serving (the
    contract checks the code; this checks what actually runs)."""
    code = ("import sys; import carl.inference; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('carl.')}))")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['_moved', 'data', 'errors', 'inference', 'io']", done.stdout
