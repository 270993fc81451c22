"""Evaluation: frozen-embedding probes, geometry, plots and model comparisons."""

from carl.evaluation.probes import ProbeResult, classification_probe, fit_va_regressor, va_regression_probe

__all__ = ["ProbeResult", "classification_probe", "fit_va_regressor", "va_regression_probe"]
