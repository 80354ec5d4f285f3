"""Importance methods (attention-derived and causal) behind one interface, and the engine.

Importing this package registers every built-in method.
"""

import analysis.attention  # noqa: E402,F401  (registers attention methods)
import analysis.attribution  # noqa: E402,F401  (registers attribution methods)
from analysis.importance.base import (
    IMPORTANCE_METHODS,
    Batch,
    ImportanceMethod,
    MethodOutput,
    MethodSettingsError,
    make_method,
    register_method,
    target_probability,
)
from analysis.importance.engine import attention_heads_table, compute_importance, explained_classes
from analysis.importance.pooling import POOLINGS, pool_to_words

__all__ = [
    "IMPORTANCE_METHODS",
    "POOLINGS",
    "Batch",
    "ImportanceMethod",
    "MethodOutput",
    "MethodSettingsError",
    "attention_heads_table",
    "compute_importance",
    "explained_classes",
    "make_method",
    "pool_to_words",
    "register_method",
    "target_probability",
]
