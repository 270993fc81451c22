"""Evaluation: frozen-embedding probes, geometry, plots, model comparisons, and fitting the heads a
model folder ships (:mod:`carl.evaluation.head_fitting`).

The probes are importable from here (``from carl.evaluation import va_regression_probe``); they load
on first use, so that ``carl --help`` (which imports :mod:`carl.evaluation.commands`) does not wait
for scikit-learn.
"""

__all__ = ["ProbeResult", "classification_probe", "fit_va_regressor", "va_regression_probe"]


def __getattr__(name: str):
    if name in __all__:
        from carl.evaluation import probes  # lazy: sklearn; keeps carl --help fast

        return getattr(probes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
