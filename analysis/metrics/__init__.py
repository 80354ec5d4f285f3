"""Metrics computed from importance tables: agreement between methods (:mod:`.agreement`)."""

from analysis.metrics.agreement import (
    METRICS,
    PAIR_SELECTIONS,
    VARIANTS,
    AgreementMetric,
    PairBatch,
    compute_agreement,
    length_bucket,
    length_bucket_labels,
    pair_kind,
    prepare_pair,
)

__all__ = [
    "METRICS",
    "PAIR_SELECTIONS",
    "VARIANTS",
    "AgreementMetric",
    "PairBatch",
    "compute_agreement",
    "length_bucket",
    "length_bucket_labels",
    "pair_kind",
    "prepare_pair",
]
