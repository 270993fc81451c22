"""Usage errors of the `carl` command: for the top level and every command of the app (walked from the
app itself, so a new command or option is covered without a new test), an unknown option, a missing
argument, a value of the wrong type, a value outside its choices and an unknown command each end in
exit code 2 and a short message naming what was wrong, never a traceback (issue 41). Also
`carl --version` / `carl version`.

In process, the commands' callbacks are replaced by recorders: a command line the parser wrongly
accepts fails the test instead of starting a training run. A few checks run the real entry points.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import types
import typing
from importlib import metadata

import pytest
import typer

import carl
from carl.cli import app, execute, version_report
from carl.usage_errors import click_exception_types, is_click_exception

UNKNOWN_OPTION = "--no-such-option"
UNKNOWN_COMMAND = "frobnicate"
NOT_A_NUMBER = "not-a-number"
NOT_A_CHOICE = "no-such-choice"
MAX_LINES = 3
"""What a usage error may print: the error line, the usage line, and one to spare."""


class Colour(str, enum.Enum):
    red = "red"
    blue = "blue"


def _demo_app() -> typer.Typer:
    """A small app with every kind of parameter the generated cases handle, so that each kind is
    exercised whether or not carl's own commands have one today (carl has no choice option)."""
    demo = typer.Typer(add_completion=False, no_args_is_help=True)
    nested = typer.Typer(no_args_is_help=True)
    demo.add_typer(nested, name="nested")

    @demo.command("paint")
    def paint(count: int = typer.Argument(...), colour: Colour = typer.Option(Colour.red, "--colour"),
              ratio: float = typer.Option(0.5, "--ratio"), name: str = typer.Option(..., "--name")):
        pass

    @nested.command("leaf")
    def leaf(size: int = typer.Option(1, "--size")):
        pass

    @demo.command("stop")
    def stop(code: int = typer.Option(3, "--code")):
        raise typer.Exit(code)

    return demo


DEMO = _demo_app()


# ---- the command tree and its parameters, for click and for typer >= 0.29 (its own typed parameters)

def command_tree(cli):
    return typer.main.get_command(cli) if isinstance(cli, typer.Typer) else cli


def walk(command, path=()):
    """(path of words, command) for the command and every command under it."""
    yield path, command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        if not getattr(sub, "hidden", False):
            yield from walk(sub, path + (name,))


def is_group(command) -> bool:
    return bool(getattr(command, "commands", None))


def _kind_of_annotation(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "choice", [str(a) for a in typing.get_args(annotation)]
    if origin in (list, tuple, set, typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
        return _kind_of_annotation(inner[0]) if len(inner) == 1 else (None, [])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", [str(member.value) for member in annotation]
    if annotation is int:
        return "int", []
    if annotation is float:
        return "float", []
    return None, []


def param_kind(param):
    """('int' | 'float' | 'choice' | None, the choices): click's params carry a ``type`` object;
    typer 0.29's carry the annotation in ``type_descriptor``."""
    click_type = getattr(param, "type", None)
    if click_type is not None:
        choices = getattr(click_type, "choices", None)
        if choices:
            return "choice", [getattr(c, "value", c) for c in choices]
        name = str(getattr(click_type, "name", ""))
        if name.startswith("integer"):
            return "int", []
        if name.startswith("float"):
            return "float", []
        return None, []
    return _kind_of_annotation(getattr(getattr(param, "type_descriptor", None), "annotation", None))


def is_argument(param) -> bool:
    return param.param_type_name == "argument"


def name_in_message(param) -> str:
    return param.opts[0] if not is_argument(param) else param.name


def command_line(path, command, values=None, leave_out=None) -> list[str]:
    """Words that satisfy the command's required parameters, except ``leave_out``; ``values`` gives
    some parameters a value of the test's choosing."""
    values = dict(values or {})
    options, arguments = [], []
    for param in command.params:
        if param is leave_out:
            continue
        if param.name in values:
            value = values[param.name]
        elif param.required:
            kind, choices = param_kind(param)
            value = choices[0] if kind == "choice" else "1"
        else:
            continue
        if is_argument(param):
            arguments.append(value)
        else:
            options += [param.opts[0], value]
    return [*path, *options, *arguments]


def cases(cli, label):
    """pytest params of each kind for the app ``cli``."""
    found = {"unknown-option": [], "missing": [], "wrong-type": [], "bad-choice": [], "unknown-command": []}
    for path, command in walk(command_tree(cli)):
        where = " ".join(("carl", *path))
        found["unknown-option"].append(pytest.param(cli, path, [*path, UNKNOWN_OPTION], UNKNOWN_OPTION,
                                                    id=f"{label}:{where} {UNKNOWN_OPTION}"))
        if is_group(command):
            found["unknown-command"].append(pytest.param(cli, path, [*path, UNKNOWN_COMMAND], UNKNOWN_COMMAND,
                                                         id=f"{label}:{where} {UNKNOWN_COMMAND}"))
            continue
        for param in command.params:
            kind, choices = param_kind(param)
            if param.required:
                found["missing"].append(pytest.param(cli, path, command_line(path, command, leave_out=param),
                                                     name_in_message(param),
                                                     id=f"{label}:{where} without {name_in_message(param)}"))
            if kind in ("int", "float"):
                found["wrong-type"].append(pytest.param(
                    cli, path, command_line(path, command, {param.name: NOT_A_NUMBER}), name_in_message(param),
                    id=f"{label}:{where} {name_in_message(param)} {NOT_A_NUMBER}"))
            if kind == "choice":
                found["bad-choice"].append(pytest.param(
                    cli, path, command_line(path, command, {param.name: NOT_A_CHOICE}), name_in_message(param),
                    id=f"{label}:{where} {name_in_message(param)} {NOT_A_CHOICE}"))
    return found


CARL_CASES = cases(app, "carl")
DEMO_CASES = cases(DEMO, "demo")


def both(kind):
    return CARL_CASES[kind] + DEMO_CASES[kind]


# ---- running a command line in this process, with the commands' work replaced by a recorder

class Ran(Exception):
    """Raised by a recorder: the parser accepted the command line and the command would have run."""


def recording_tree(cli):
    tree = command_tree(cli)
    for path, command in walk(tree):
        if not is_group(command):
            def record(*args, _path=path, **kwargs):
                raise Ran(f"carl {' '.join(_path)} ran with {kwargs}")
            command.callback = record
    return tree


def run_in_process(cli, words, capsys):
    try:
        code = execute(recording_tree(cli), list(words))
    except Ran as ran:
        pytest.fail(f"the command line {words} was accepted: {ran}")
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_short_usage_error(code, output, path, named, words):
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 2, f"{words}: exit code {code}, output:\n{output}"
    assert "Traceback" not in output, output
    assert 1 <= len(lines) <= MAX_LINES, f"{words}: {len(lines)} lines:\n{output}"
    first = lines[0]
    assert first.startswith(" ".join(("carl", *path)) + ": error: "), first
    assert named.lower() in first.lower(), f"{named!r} not named in {first!r}"


# ---- the generated cases

@pytest.mark.parametrize("cli, path, words, named", both("unknown-option"))
def test_an_unknown_option_is_named(cli, path, words, named, capsys):
    code, output = run_in_process(cli, words, capsys)
    assert_short_usage_error(code, output, path, named, words)


@pytest.mark.parametrize("cli, path, words, named", both("missing"))
def test_a_missing_argument_or_required_option_is_named(cli, path, words, named, capsys):
    code, output = run_in_process(cli, words, capsys)
    assert_short_usage_error(code, output, path, named, words)
    assert "missing" in output.splitlines()[0].lower()


@pytest.mark.parametrize("cli, path, words, named", both("wrong-type"))
def test_a_value_of_the_wrong_type_is_named_with_the_option(cli, path, words, named, capsys):
    code, output = run_in_process(cli, words, capsys)
    assert_short_usage_error(code, output, path, named, words)
    assert NOT_A_NUMBER in output.splitlines()[0]


@pytest.mark.parametrize("cli, path, words, named", both("bad-choice"))
def test_a_value_outside_the_choices_is_named_with_the_choices(cli, path, words, named, capsys):
    code, output = run_in_process(cli, words, capsys)
    assert_short_usage_error(code, output, path, named, words)
    first = output.splitlines()[0]
    assert NOT_A_CHOICE in first
    command = dict(walk(command_tree(cli)))[path]
    param = next(p for p in command.params if name_in_message(p) == named)
    assert any(choice in first for choice in param_kind(param)[1]), f"no valid choice in {first!r}"


@pytest.mark.parametrize("cli, path, words, named", both("unknown-command"))
def test_an_unknown_command_is_named_with_the_commands_there_are(cli, path, words, named, capsys):
    code, output = run_in_process(cli, words, capsys)
    assert_short_usage_error(code, output, path, named, words)
    group = dict(walk(command_tree(cli)))[path]
    listed = output.splitlines()[1]
    assert all(name in listed for name in group.commands), listed


def test_the_generated_cases_cover_every_kind_and_carls_commands():
    """A typer release that hid a parameter's type or a group's commands from the walker would
    silently drop cases: the demo app has each kind once, carl's own app the ones named here."""
    demo = {kind: sorted(p.id for p in found) for kind, found in DEMO_CASES.items()}
    assert demo["wrong-type"] == ["demo:carl nested leaf --size not-a-number", "demo:carl paint --ratio not-a-number",
                                  "demo:carl paint count not-a-number", "demo:carl stop --code not-a-number"]
    assert demo["bad-choice"] == ["demo:carl paint --colour no-such-choice"]
    assert demo["missing"] == ["demo:carl paint without --name", "demo:carl paint without count"]
    assert demo["unknown-command"] == ["demo:carl frobnicate", "demo:carl nested frobnicate"]
    ids = {p.id for found in CARL_CASES.values() for p in found}
    expected = {"carl:carl frobnicate", "carl:carl data frobnicate", "carl:carl --no-such-option",
                "carl:carl train --max-steps not-a-number", "carl:carl serve --max-wait-ms not-a-number",
                "carl:carl predict-va without model", "carl:carl data fetch without names",
                "carl:carl reproduce without --output-dir", "carl:carl version --no-such-option"}
    assert expected <= ids, expected - ids
    walked = {" ".join(path) for path, _ in walk(command_tree(app))}
    assert {"train", "run", "embed", "predict-va", "serve", "data list", "data fetch", "version"} <= walked


# ---- what the generated cases do not reach

def test_an_option_without_its_value_names_the_subcommand(capsys):
    """click's parser raises this one without a context: carl finds the command from the words."""
    code, output = run_in_process(app, ["train", "--max-steps"], capsys)
    assert_short_usage_error(code, output, ("train",), "--max-steps", ["train", "--max-steps"])
    assert output.splitlines()[1].startswith("Usage: carl train")


def test_a_bare_group_prints_its_help(capsys):
    for words, command in (([], "carl"), (["data"], "carl data")):
        code, output = run_in_process(app, words, capsys)
        assert code in (0, 2) and "Traceback" not in output
        assert f"Usage: {command} " in " ".join(output.split()), output  # rich help pads and frames lines


def test_an_exit_code_a_command_asks_for_is_kept(capsys):
    assert execute(DEMO, ["stop", "--code", "3"]) == 3


def test_ctrl_c_is_an_interruption_not_a_traceback(capsys):
    tree = command_tree(app)

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    tree.commands["train"].callback = interrupted
    assert execute(tree, ["train"]) == 130
    assert "carl: interrupted" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback():
    tree = command_tree(app)

    def broken(**kwargs):
        raise ZeroDivisionError("a bug, not a usage error")

    tree.commands["train"].callback = broken
    with pytest.raises(ZeroDivisionError):
        execute(tree, ["train"])


def test_click_and_typers_copy_of_click_are_both_recognised():
    known = click_exception_types()
    if importlib.util.find_spec("click") is not None:
        import click

        assert click.exceptions.ClickException in known
        assert is_click_exception(click.UsageError("from click"))
    if importlib.util.find_spec("typer._click") is not None:
        vendored = importlib.import_module("typer._click.exceptions")
        assert vendored.ClickException in known
        assert is_click_exception(vendored.UsageError("from typer's click"))
    assert known, "neither click nor typer._click is importable"
    assert not is_click_exception(ValueError("not a click error"))


def test_a_plain_click_command_gets_the_same_answer(capsys):
    """Older typer releases raise click's own exceptions: a click command run through `execute`."""
    click = pytest.importorskip("click")

    @click.command()
    @click.option("--steps", type=int, default=1)
    def plain(steps):
        raise AssertionError("the parser accepted a bad --steps")

    code = execute(plain, ["--steps", NOT_A_NUMBER])
    output = capsys.readouterr().err
    assert_short_usage_error(code, output, (), "--steps", ["--steps", NOT_A_NUMBER])
    assert NOT_A_NUMBER in output.splitlines()[0]


# ---- --version and `carl version`

def _expected_version_lines():
    lines = {"carl": carl.__version__, "python": ".".join(map(str, sys.version_info[:3]))}
    for name in ("torch", "transformers", "sentence-transformers", "typer"):
        lines[name] = metadata.version(name)
    return lines


@pytest.mark.parametrize("words", [["--version"], ["version"]])
def test_version_names_carl_python_and_the_libraries_of_a_bug_report(words, capsys):
    code = execute(app, words)
    output = capsys.readouterr().out
    assert code == 0
    shown = dict(line.split(" ", 1) for line in output.splitlines())
    assert shown == _expected_version_lines()
    assert output.strip() == version_report()


def test_version_imports_neither_torch_nor_transformers():
    probe = ("import sys; from carl.cli import app, execute; execute(app, ['--version']); "
             "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# ---- the real entry points: the command lines of issue 41, through the console script and `python -m`

def _console_script() -> str:
    script = pathlib.Path(sys.executable).parent / "carl"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (carl not installed in this environment)")
    return str(script)


@pytest.mark.parametrize("entry, words, named", [
    ("console-script", ["frobnicate"], "frobnicate"),
    ("console-script", ["predict-va"], "model"),
    ("console-script", ["train", "--max-steps", "abc"], "--max-steps"),
    ("console-script", ["embed", "--bogus"], "--bogus"),
    ("python-m", ["frobnicate"], "frobnicate"),
])
def test_the_issue_command_lines_through_the_real_entry_points(entry, words, named):
    launcher = [_console_script()] if entry == "console-script" else [sys.executable, "-m", "carl.cli"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*launcher, *words], capture_output=True, text=True, env=env, timeout=120)
    path = tuple(w for w in words[:1] if not w.startswith("-") and w != "frobnicate")
    assert_short_usage_error(done.returncode, done.stdout + done.stderr, path, named, words)


def test_version_through_the_console_script():
    done = subprocess.run([_console_script(), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"carl {carl.__version__}"
    assert "Traceback" not in done.stderr
