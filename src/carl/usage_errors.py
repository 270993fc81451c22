"""Usage errors of the ``carl`` command (an unknown command or option, a missing argument, a value
of the wrong type or outside its choices), answered in two lines whichever click typer runs on.

typer up to 0.2x raised click's own exceptions; typer 0.29 carries a copy of click
(``typer._click``) whose exceptions are not ``click.ClickException`` instances, so a check against
one of them alone turned the other's usage errors into tracebacks (issue 41). Both are checked,
and anything shaped like one (an integer ``exit_code`` and a ``format_message``) is taken as one,
for the next time the copy moves.

:func:`execute` runs the command with those answers: what `carl` (``carl.cli.main``) and the tests call.
"""

from __future__ import annotations

import importlib
import sys

import typer

from carl.errors import CarlError


def click_exception_types() -> tuple[type, ...]:
    """``ClickException`` of click and of typer's vendored copy, each where it is installed."""
    found = []
    for module_name in ("click.exceptions", "typer._click.exceptions"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        base = getattr(module, "ClickException", None)
        if isinstance(base, type):
            found.append(base)
    return tuple(found)


def is_click_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is an error click (or typer's copy of it) meant to show to the user."""
    if isinstance(exc, click_exception_types()):
        return True
    return callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int)


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _rejected_value(exc: BaseException) -> str | None:
    """The text a type check refused. click names it in its message; typer 0.29 says only what was
    expected ("Input should be a valid integer") and keeps the value in the pydantic error it converted."""
    errors = getattr(exc.__cause__, "errors", None)
    if not callable(errors):
        return None
    try:
        details = errors()
    except Exception:  # not pydantic's errors(): nothing to add
        return None
    if details and isinstance(details[0], dict) and isinstance(details[0].get("input"), str):
        return details[0]["input"]
    return None


def _visible_subcommands(ctx) -> list[str]:
    group = ctx.command
    if not callable(getattr(group, "list_commands", None)):
        return []
    names = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not getattr(command, "hidden", False):
            names.append(name)
    return names


def context_of_words(command, words: list[str], prog_name: str = "carl"):
    """A click context for the deepest (sub)command that ``words`` name, for errors raised without
    one (click's parser raises "Option '--max-steps' requires an argument." context-free)."""
    ctx = command.context_class(command, info_name=prog_name)
    for word in words:
        get_command = getattr(ctx.command, "get_command", None)
        if not callable(get_command):
            break
        sub = get_command(ctx, word)
        if sub is not None:
            ctx = sub.context_class(sub, info_name=word, parent=ctx)
    return ctx


def describe(exc: BaseException, prog_name: str = "carl", fallback_ctx=None) -> tuple[str, int]:
    """The text to print on stderr for a click exception, and the exit code.

    A usage error gives two lines: the command, what is wrong (the option or argument, the value,
    what is expected), then the command's usage line with the command list of a group and where
    the full help is. ``fallback_ctx`` stands in for the context of an error raised without one."""
    if "NoArgsIsHelpError" in _class_names(exc):  # `carl` or `carl data` alone: the help is the answer
        return exc.format_message(), exc.exit_code
    ctx = getattr(exc, "ctx", None)
    if ctx is None and "UsageError" in _class_names(exc):
        ctx = fallback_ctx
    where = ctx.command_path if ctx is not None else prog_name
    message = exc.format_message().strip()
    rejected = _rejected_value(exc)
    if rejected is not None and rejected not in message:
        message = f"{message.rstrip('.')} (got {rejected!r})."
    first = f"{where}: error: {message}"
    if ctx is None:
        return first, exc.exit_code
    usage = ctx.get_usage().strip()
    commands = _visible_subcommands(ctx)
    listing = f"; commands: {', '.join(commands)}" if commands else ""
    return f"{first}\n{usage}{listing}; '{where} --help' for more", exc.exit_code


def execute(cli, args: list[str] | None = None) -> int:
    """Run ``cli`` (a typer app or a click command) as the ``carl`` command on ``args`` (default: the
    process's arguments) and return its exit code. An error the user can cause ends as a short
    message on stderr, never a traceback: carl's own errors and usage errors exit with 2."""
    try:
        outcome = cli(args=args, prog_name="carl", standalone_mode=False)
    except CarlError as exc:
        typer.echo(f"carl: error: {exc}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("carl: interrupted", err=True)
        return 130
    except Exception as exc:
        if not is_click_exception(exc):
            raise
        text, exit_code = describe(exc, fallback_ctx=_context_of_arguments(cli, args))
        typer.echo(text, err=True)
        return exit_code
    # Without standalone mode click returns the code of a typer.Exit instead of exiting (carl's commands
    # return None); typer 0.29 turns Ctrl-C into Exit(130) on the way.
    if isinstance(outcome, int) and not isinstance(outcome, bool):
        if outcome == 130:
            typer.echo("carl: interrupted", err=True)
        return outcome
    return 0


def _context_of_arguments(cli, args: list[str] | None):
    """The context of the (sub)command the arguments name; None where it cannot be told."""
    command = typer.main.get_command(cli) if isinstance(cli, typer.Typer) else cli
    try:
        return context_of_words(command, list(sys.argv[1:] if args is None else args))
    except Exception:  # only improves a message: never turn a usage error into a traceback
        return None
