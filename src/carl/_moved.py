"""Import paths that moved in 0.2 (issue 42), kept working for one release with a DeprecationWarning.

``import carl.export`` (or ``from carl.model.encoder import load_encoder``) still works: a finder at
the front of ``sys.meta_path`` answers the old names with a small module whose attributes are
looked up in the new modules, and warns once per old module. Nothing inside carl uses these paths
(``tests/test_import_layers.py`` checks). ``python -m carl.va_head`` is a command, not a moved
module: :mod:`carl.va_head` stays a real module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

#: old module -> the modules its names now live in, looked up in this order
MOVED: dict[str, tuple[str, ...]] = {
    "carl.export": ("carl.inference.embedder", "carl.inference.export", "carl.inference.interpolation"),
    "carl.onnx_backend": ("carl.inference.onnx_backend",),
    "carl.model": ("carl.network", "carl.inference.encoders"),
    "carl.model.carl": ("carl.network.carl",),
    "carl.model.embedding": ("carl.network.embedding",),
    "carl.model.heads": ("carl.network.heads",),
    "carl.model.encoder": ("carl.inference.encoders",),
    "carl.model.interpolation": ("carl.inference.interpolation",),
    "carl.model.streaming": ("carl.inference.streaming",),
}


def _stacklevel() -> int:
    """The warning's stack level that points at the ``import`` line: past this module's frames
    (``warnings`` itself skips importlib's)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
        if frame.f_code.co_filename == __file__:
            level += 1
        frame = frame.f_back
    return level


class _MovedLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None  # a plain new module

    def exec_module(self, module: types.ModuleType) -> None:
        targets = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} moved to {' / '.join(targets)}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=_stacklevel())
        new = [importlib.import_module(t) for t in targets]

        def __getattr__(name: str):
            for target in new:
                if hasattr(target, name):
                    return getattr(target, name)
            raise AttributeError(f"module {module.__name__!r} (moved to {', '.join(targets)}) has no attribute {name!r}")

        module.__getattr__ = __getattr__
        module.__all__ = sorted({n for t in new for n in getattr(t, "__all__", ())})
        module.__doc__ = f"Moved to {', '.join(targets)} (deprecated path, kept for one release)."


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        package = any(other.startswith(fullname + ".") for other in MOVED)
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(), is_package=package)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): it must answer before the path finder, which
    would otherwise find nothing (or, under ``carl.model``'s new ``__path__``, the wrong file)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
