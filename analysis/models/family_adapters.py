"""Where the parts of an encoder layer live, one small adapter per encoder family.

Attention probabilities and value vectors are read through the probe attention
(:mod:`analysis.models.attention_probe`), which works for every family. Methods that
decompose an attention block further need three more parts of each layer, whose
names differ by family:

- the attention output projection ``W_O`` (BERT/RoBERTa: ``attention.output.dense``;
  DistilBERT: ``attention.out_lin``), for attention norms (Kobayashi et al. 2020) and
  ALTI (Ferrando et al. 2022);
- the layer norm applied to ``attention output + residual`` (BERT/RoBERTa:
  ``attention.output.LayerNorm``; DistilBERT: ``sa_layer_norm``), for ALTI;
- the layer module itself, whose inputs and outputs are the per-layer hidden states,
  for value zeroing (Mohebbi et al. 2023), which reruns one layer at a time.

BERT-style and RoBERTa-style encoders share one adapter (same module tree under
``base_model.encoder.layer``), DistilBERT has its own (``base_model.transformer.layer``).
Adding a family is one :class:`EncoderAdapter` subclass registered for its
``config.model_type`` values. All three supported families are post-layer-norm
encoders: ``LN(x + W_O . attention(x))``; the decompositions rely on that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from analysis.registry import Registry


@dataclass(frozen=True)
class LayerParts:
    """The modules of one encoder layer that attention decompositions need.

    ``index`` is the layer's position (0 = closest to the embeddings); it equals the
    probe's ``_study_layer`` numbering of ``self_attention``.
    """

    index: int
    layer: nn.Module
    self_attention: nn.Module
    output_projection: nn.Linear
    attention_layer_norm: nn.LayerNorm

    @property
    def num_heads(self) -> int:
        attention = self.self_attention
        for name in ("num_attention_heads", "n_heads", "num_heads"):
            if hasattr(attention, name):
                return int(getattr(attention, name))
        raise AttributeError(f"{type(attention).__name__} exposes no head count")


class FamilyAdapterError(RuntimeError):
    """A model's family has no adapter, or its modules are not where the adapter expects."""


class EncoderAdapter(ABC):
    """Finds :class:`LayerParts` in a Hugging Face encoder of the families it declares."""

    model_types: ClassVar[tuple[str, ...]]
    description: ClassVar[str]

    @abstractmethod
    def layer_modules(self, model: nn.Module) -> list[nn.Module]:
        """The encoder layers in forward order."""

    @abstractmethod
    def parts(self, index: int, layer: nn.Module) -> LayerParts:
        """The parts of one layer."""

    def layers(self, model: nn.Module) -> list[LayerParts]:
        """Every layer's parts, checked against the probe's layer numbering."""
        try:
            found = [self.parts(i, layer) for i, layer in enumerate(self.layer_modules(model))]
        except AttributeError as error:
            raise FamilyAdapterError(
                f"{type(model).__name__} does not have the module layout of {self.description} "
                f"({error}); register an EncoderAdapter for its model_type in analysis/models/family_adapters.py"
            ) from error
        for parts in found:
            numbered = getattr(parts.self_attention, "_study_layer", parts.index)
            if numbered != parts.index:
                raise FamilyAdapterError(
                    f"layer {parts.index} of {type(model).__name__}: its attention module is layer {numbered} in "
                    "the probe's forward order; the adapter's layer order is wrong"
                )
        return found


class BertStyleAdapter(EncoderAdapter):
    """BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA: ``encoder.layer[i].attention.{self, output}``."""

    model_types = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
    description = "a BERT-style encoder (encoder.layer[i].attention.self / .output.dense / .output.LayerNorm)"

    def layer_modules(self, model: nn.Module) -> list[nn.Module]:
        return list(model.base_model.encoder.layer)

    def parts(self, index: int, layer: nn.Module) -> LayerParts:
        return LayerParts(index=index, layer=layer, self_attention=layer.attention.self,
                          output_projection=layer.attention.output.dense,
                          attention_layer_norm=layer.attention.output.LayerNorm)


class DistilBertAdapter(EncoderAdapter):
    """DistilBERT: ``transformer.layer[i].attention`` (with ``out_lin``) and ``sa_layer_norm``."""

    model_types = ("distilbert",)
    description = "a DistilBERT-style encoder (transformer.layer[i].attention.out_lin / .sa_layer_norm)"

    def layer_modules(self, model: nn.Module) -> list[nn.Module]:
        return list(model.base_model.transformer.layer)

    def parts(self, index: int, layer: nn.Module) -> LayerParts:
        return LayerParts(index=index, layer=layer, self_attention=layer.attention,
                          output_projection=layer.attention.out_lin, attention_layer_norm=layer.sa_layer_norm)


ENCODER_ADAPTERS: Registry[EncoderAdapter] = Registry("encoder family adapter")
for _adapter in (BertStyleAdapter(), DistilBertAdapter()):
    for _model_type in _adapter.model_types:
        ENCODER_ADAPTERS.add(_model_type, _adapter)


def adapter_for(model: nn.Module) -> EncoderAdapter:
    """The adapter of a Hugging Face model, chosen by ``model.config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ENCODER_ADAPTERS:
        raise FamilyAdapterError(
            f"no encoder family adapter for model_type {model_type!r} ({type(model).__name__}); supported: "
            f"{ENCODER_ADAPTERS.names()}. Attention norms, value zeroing and ALTI need one; add an EncoderAdapter "
            "in analysis/models/family_adapters.py, or drop those methods from importance.methods"
        )
    return ENCODER_ADAPTERS.get(model_type)


def encoder_layers(model: nn.Module) -> list[LayerParts]:
    """Every layer's :class:`LayerParts` of ``model`` (a Hugging Face encoder classifier)."""
    return adapter_for(model).layers(model)
