"""Gradient- and ablation-based attributions (registered in :mod:`analysis.importance`)."""

from analysis.attribution import ablation, gradient, sampling

__all__ = ["ablation", "gradient", "sampling"]
