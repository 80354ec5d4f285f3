"""Causal tests of attention: change the attention (model side) or the input (every ranking).

- :mod:`~analysis.interventions.attention`: the adapter layer (RNN attention override,
  transformer attention control on chosen layers and heads) and the edits.
- :mod:`~analysis.interventions.model_side`: permutation, uniform attention, zeroing,
  removal until the decision flips.
- :mod:`~analysis.interventions.adversarial`: adversarial attention under an output constraint.
- :mod:`~analysis.interventions.ablation`: ERASER comprehensiveness / sufficiency / AOPC and
  deletion / insertion curves for every importance ranking.
- :mod:`~analysis.interventions.stages`: the workflow stages; :mod:`~analysis.interventions.figures`
  and :mod:`~analysis.interventions.report_section`: figures and the summary section.
"""

from analysis.interventions.ablation import AblationSettings, input_ablation, rankings_from_importance
from analysis.interventions.adversarial import AdversarialSettings, adversarial_search
from analysis.interventions.attention import (
    AttentionAdapter,
    AttentionEdit,
    InterventionError,
    RNNAttentionAdapter,
    TransformerAttentionAdapter,
    jensen_shannon,
    make_adapter,
    total_variation,
)
from analysis.interventions.model_side import permutation_test, removal_test, uniform_test, zeroing_test

__all__ = [
    "AblationSettings",
    "AdversarialSettings",
    "AttentionAdapter",
    "AttentionEdit",
    "InterventionError",
    "RNNAttentionAdapter",
    "TransformerAttentionAdapter",
    "adversarial_search",
    "input_ablation",
    "jensen_shannon",
    "make_adapter",
    "permutation_test",
    "rankings_from_importance",
    "removal_test",
    "total_variation",
    "uniform_test",
    "zeroing_test",
]
