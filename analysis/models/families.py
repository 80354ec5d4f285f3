"""What the study needs to know about each encoder family, declared once per family.

A checkpoint's family is found from ``config.model_type`` alone, so it can be looked up
from ``config.json`` without loading weights (as ``attention-study validate`` does). Each
:class:`EncoderFamily` declares:

- ``layout``: where the parts of a layer live (:class:`ModuleLayout`: the layer list, the
  module that computes attention, the value and output projections, the attention layer
  norm), how the probe reaches its attention (transformers' attention interface, or hooks
  on the family's own attention module), and whether layers share modules (ALBERT).
  Families with the same module tree share one layout (BERT, RoBERTa, XLM-R, ELECTRA);
- ``layer_norm``: ``post`` (``LN(x + W_O attention(x))``, BERT) or ``pre``
  (``x + W_O attention(LN(x))``, ModernBERT); the decompositions read it;
- the position offset of learned position ids, the classification position, and the
  tokenizer options that pre-split words need;
- ``conditions``: properties of *some* checkpoints of the family that break an assumption
  an attention method makes (a :data:`REQUIREMENTS` entry), with the reason. A method
  declares the requirements it makes (``ImportanceMethod.requirements``); a configured
  (checkpoint, method) pair whose requirement a condition breaks is refused by config
  validation, or, when the checkpoint's config cannot be read offline, when it loads.

Everything else (the adapters, the probe installation, the tokenizer options, the ALTI
variant, the supported-encoders table) reads these declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from torch import nn

from analysis.registry import Registry

# ------------------------------------------------------------------------------------------- requirements

DECLARED_FAMILY = "declared_family"
CLASSIFICATION_POSITION = "classification_position"
ATTENTION_ONLY_MIXING = "attention_only_mixing"

REQUIREMENTS: Mapping[str, str] = MappingProxyType({
    DECLARED_FAMILY: "the checkpoint's family is declared in analysis/models/families.py (layer layout, layer-norm "
                     "placement, how the probe reaches its attention)",
    CLASSIFICATION_POSITION: "the classifier reads one position ([CLS]); its attention row is what the method scores",
    ATTENTION_ONLY_MIXING: "tokens exchange information only through attention (and the residual stream), so "
                           "contributions can be propagated through the layers",
})


@dataclass(frozen=True)
class Condition:
    """A property of some checkpoints of a family that breaks one requirement.

    ``when`` names the checkpoints (``"classifier_pooling: mean"``) and ``applies`` tests a
    config for it; ``why`` says why the requirement then fails, ``fix`` what to do.
    """

    requirement: str
    when: str
    applies: Callable[[Any], bool]
    why: str
    fix: str

    @property
    def reason(self) -> str:
        """The sentence a refusal gives."""
        return f"the checkpoint has {self.when}: {self.why}; {self.fix}"


# ---------------------------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class ModuleLayout:
    """Where the parts of one encoder layer live (dotted attribute paths).

    ``layers`` is relative to the classifier; the other paths are relative to one layer.
    ``self_attention``: the module that calls the probe (interface) or gets its hooks
    (``probe="module"``); ``value_projection``: ``W_V`` (``fused_qkv``: one linear map
    whose output is ``[q; k; v]``); ``output_projection``: ``W_O``; ``attention_layer_norm``:
    post-LN: the norm of ``x + W_O attention``; pre-LN: the norm applied before attention.
    ``probability_site`` (module probe only): the dropout module the family applies to
    its attention probabilities, where the probe reads and replaces them.
    ``layer_order`` (optional) lists the layer modules in forward order when that is not
    simply the module list at ``layers`` (ALBERT repeats shared layers).
    ``shared_layer_arguments``: keyword arguments of a layer's forward that hold no
    per-example rows (value zeroing reruns a layer on a subset of rows and passes these
    unchanged; e.g. DeBERTa's relative positions, whose first axis has size 1).
    """

    name: str
    layers: str
    self_attention: str
    value_projection: str
    output_projection: str
    attention_layer_norm: str
    probe: Literal["interface", "module"] = "interface"
    probability_site: str | None = None
    fused_qkv: bool = False
    shared_layers: bool = False
    layer_order: Callable[[nn.Module], list[nn.Module]] | None = None
    shared_layer_arguments: tuple[str, ...] = ()


def _albert_layer_order(model: nn.Module) -> list[nn.Module]:
    """ALBERT's layers in forward order: ``num_hidden_layers`` calls of a layer group, each
    running its ``inner_group_num`` layers; groups are shared across consecutive calls."""
    config = model.config
    encoder = model.base_model.encoder
    order = []
    for i in range(config.num_hidden_layers):
        group = int(i / (config.num_hidden_layers / config.num_hidden_groups))
        order.extend(encoder.albert_layer_groups[group].albert_layers)
    return order


BERT_LAYOUT = ModuleLayout(
    name="BERT-style", layers="base_model.encoder.layer", self_attention="attention.self",
    value_projection="attention.self.value", output_projection="attention.output.dense",
    attention_layer_norm="attention.output.LayerNorm")
DISTILBERT_LAYOUT = ModuleLayout(
    name="DistilBERT", layers="base_model.transformer.layer", self_attention="attention",
    value_projection="attention.v_lin", output_projection="attention.out_lin", attention_layer_norm="sa_layer_norm")
ALBERT_LAYOUT = ModuleLayout(
    name="ALBERT", layers="base_model.encoder.albert_layer_groups", self_attention="attention",
    value_projection="attention.value", output_projection="attention.dense", attention_layer_norm="attention.LayerNorm",
    shared_layers=True, layer_order=_albert_layer_order)
DEBERTA_V2_LAYOUT = ModuleLayout(
    name="DeBERTa-v2", layers="base_model.encoder.layer", self_attention="attention.self",
    value_projection="attention.self.value_proj", output_projection="attention.output.dense",
    attention_layer_norm="attention.output.LayerNorm", probe="module", probability_site="attention.self.dropout",
    shared_layer_arguments=("relative_pos", "rel_embeddings"))
MODERNBERT_LAYOUT = ModuleLayout(
    name="ModernBERT", layers="base_model.layers", self_attention="attn", value_projection="attn.Wqkv",
    output_projection="attn.Wo", attention_layer_norm="attn_norm", fused_qkv=True,
    shared_layer_arguments=("position_embeddings",))


# --------------------------------------------------------------------------------------------- families


def _no_offset(config: Any) -> int:
    return 0


def _after_padding_index(config: Any) -> int:
    """RoBERTa-style position ids run from ``padding_idx + 1``: that many positions are never used."""
    return int(getattr(config, "pad_token_id", None) or 0) + 1


@dataclass(frozen=True)
class EncoderFamily:
    """One encoder family: everything the study assumes about its checkpoints (module docstring)."""

    name: str
    model_types: tuple[str, ...]
    layout: ModuleLayout
    layer_norm: Literal["post", "pre"]
    position_offset: Callable[[Any], int] = _no_offset
    classification_position: int = 0
    tokenizer_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    attention_notes: str = ""
    conditions: tuple[Condition, ...] = ()

    def unmet_requirements(self, config: Any) -> dict[str, str]:
        """The requirements a checkpoint with this ``config`` breaks, with the reason each."""
        return {c.requirement: c.reason for c in self.conditions if c.applies(config)}

    def max_length(self, config: Any, requested: int) -> int:
        """``requested`` capped at the positions the checkpoint has (learned position ids only)."""
        limit = getattr(config, "max_position_embeddings", None) or requested
        return min(requested, limit - self.position_offset(config))


_PREFIX_SPACE = MappingProxyType({"add_prefix_space": True})

ENCODER_FAMILIES: tuple[EncoderFamily, ...] = (
    EncoderFamily("BERT", ("bert",), BERT_LAYOUT, "post",
                  attention_notes="full bidirectional attention in every layer"),
    EncoderFamily("RoBERTa", ("roberta", "camembert"), BERT_LAYOUT, "post", position_offset=_after_padding_index,
                  tokenizer_options=_PREFIX_SPACE,
                  attention_notes="as BERT; byte-level BPE needs add_prefix_space for pre-split words"),
    EncoderFamily("XLM-RoBERTa", ("xlm-roberta",), BERT_LAYOUT, "post", position_offset=_after_padding_index,
                  tokenizer_options=_PREFIX_SPACE, attention_notes="as BERT"),
    EncoderFamily("ELECTRA", ("electra",), BERT_LAYOUT, "post",
                  attention_notes="as BERT (the discriminator; embeddings may be projected to the hidden size)"),
    EncoderFamily("DistilBERT", ("distilbert",), DISTILBERT_LAYOUT, "post", attention_notes="as BERT"),
    EncoderFamily("ALBERT", ("albert",), ALBERT_LAYOUT, "post",
                  attention_notes="one set of layer weights shared by all layers; every call is its own layer "
                                  "(numbered in forward order), with its own attention"),
    EncoderFamily(
        "DeBERTa-v2/v3", ("deberta-v2",), DEBERTA_V2_LAYOUT, "post",
        attention_notes="disentangled attention: the probabilities include the content-to-position and "
                        "position-to-content terms; the probe reads and replaces them where DeBERTa applies "
                        "attention dropout, so interventions change what the values are mixed with",
        conditions=(Condition(
            ATTENTION_ONLY_MIXING, "conv_kernel_size > 0",
            lambda config: int(getattr(config, "conv_kernel_size", 0) or 0) > 0,
            "a convolution after the first layer (DeBERTa-v2 xlarge/xxlarge) mixes neighbouring tokens outside "
            "attention, which contributions propagated through the layers by attention miss",
            "use a checkpoint without it (any DeBERTa-v3) or drop the method"),),
    ),
    EncoderFamily(
        "ModernBERT", ("modernbert",), MODERNBERT_LAYOUT, "pre", tokenizer_options=_PREFIX_SPACE,
        attention_notes="pre-layer-norm: attention norms and ALTI take their pre-LN forms "
                        "(analysis/attention/norms.py), value zeroing reruns the whole pre-LN layer; layers alternate "
                        "global attention (every global_attn_every_n_layers-th layer, from the first) with local "
                        "attention within local_attention/2 positions on each side. Raw attention is what each layer computes: in a local layer, tokens farther from "
                        "[CLS] than the window get exactly 0 in the [CLS] row; attention_all_mean averages those "
                        "zeros in; attention_last_mean reads the last layer (global in the released 22- and "
                        "28-layer checkpoints)",
        conditions=(Condition(
            CLASSIFICATION_POSITION, "classifier_pooling: mean",
            lambda config: getattr(config, "classifier_pooling", "cls") != "cls",
            "the classifier reads the mean of all positions, not the [CLS] position, so a [CLS]-row score does not "
            "describe what it reads",
            "use a checkpoint with classifier_pooling 'cls' (set config.classifier_pooling = 'cls' and save it "
            "before fine-tuning) or drop the method"),),
    ),
)

FAMILIES_BY_MODEL_TYPE: Registry[EncoderFamily] = Registry("encoder family")
for _family in ENCODER_FAMILIES:
    for _model_type in _family.model_types:
        FAMILIES_BY_MODEL_TYPE.add(_model_type, _family)


def family_for_model_type(model_type: str | None) -> EncoderFamily | None:
    """The declared family of a ``config.model_type``, or None when none is declared."""
    return FAMILIES_BY_MODEL_TYPE.get(model_type) if model_type in FAMILIES_BY_MODEL_TYPE else None


def unmet_requirements(config: Any) -> dict[str, str]:
    """What a checkpoint with ``config`` cannot give the methods (requirement -> reason)."""
    model_type = getattr(config, "model_type", None)
    family = family_for_model_type(model_type)
    if family is None:
        return {DECLARED_FAMILY: (
            f"no encoder family is declared for model_type {model_type!r} (declared: "
            f"{FAMILIES_BY_MODEL_TYPE.names()}); declare one in analysis/models/families.py, or use only "
            "gradient and ablation methods")}
    return family.unmet_requirements(config)


def describe_family(config: Any) -> str:
    """``"ModernBERT (model_type 'modernbert')"``: how messages name a checkpoint's family."""
    model_type = getattr(config, "model_type", None)
    family = family_for_model_type(model_type)
    return f"{family.name if family else 'an undeclared family'} (model_type {model_type!r})"


def refusal_message(method: str, checkpoint: str, config: Any, reasons: list[str], *, where: str = "") -> str:
    """The one message that refuses ``method`` for a checkpoint, at validate time and at load time alike."""
    place = f"{where}: " if where else ""
    return (f"{place}method {method!r} is refused for checkpoint {checkpoint!r}, {describe_family(config)}: "
            + "; ".join(reasons))
