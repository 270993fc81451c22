"""Errors a user can cause. Each message names the file (and line/row where known),
the problem, and the fix. The CLI turns these into a one-paragraph message and exit
code 2 instead of a traceback."""

from __future__ import annotations


class CarlError(Exception):
    """Base class for every error carl raises on purpose."""


class DataError(CarlError):
    """A corpus file is missing, malformed or holds invalid values."""

    def __init__(self, message: str, *, path=None, line: int | None = None, fix: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        text = where + message
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)
        self.message = message
        self.path = path
        self.line = line
        self.fix = fix


class OutputError(DataError):
    """An output file cannot be written: a directory in its place, no permission, a full disk."""


class ConfigError(CarlError):
    """A configuration file or override is invalid."""


class ModelError(CarlError):
    """A model id or path cannot be loaded."""


class CheckpointError(CarlError):
    """A checkpoint is missing, truncated or corrupted."""
