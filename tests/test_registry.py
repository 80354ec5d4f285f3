"""Registries: entries by name, names unique, and an unknown name answered with the names that exist."""

from __future__ import annotations

import pytest

from analysis.registry import Registry, UnknownNameError


def test_add_get_names_and_iteration_are_sorted_by_name():
    colours = Registry("colour")
    colours.add("red", 1)
    colours.add("blue", 2)
    assert colours.get("red") == 1 and colours.get("blue") == 2
    assert colours.names() == ["blue", "red"] == list(colours)
    assert colours.items() == [("blue", 2), ("red", 1)]
    assert "red" in colours and "green" not in colours


def test_register_decorator_adds_and_returns_the_object():
    metrics = Registry("metric")

    @metrics.register("kendall_tau")
    def tau(a, b):
        return 0.0

    assert metrics.get("kendall_tau") is tau and tau(1, 2) == 0.0


def test_a_name_registered_twice_is_an_error_naming_kind_and_name():
    methods = Registry("importance method")
    methods.add("saliency", object())
    with pytest.raises(ValueError, match="importance method 'saliency' is registered twice"):
        methods.add("saliency", object())
    assert len(methods.names()) == 1


def test_registering_the_same_object_again_is_harmless():
    """A module imported twice (e.g. by a reload) registers its objects again; that is not a clash."""
    datasets = Registry("dataset")
    spec = object()
    datasets.add("sst2", spec)
    datasets.add("sst2", spec)
    assert datasets.get("sst2") is spec


def test_unknown_name_error_lists_the_allowed_names_and_where():
    families = Registry("model family")
    families.add("rnn", 1)
    families.add("transformer", 2)
    with pytest.raises(UnknownNameError) as caught:
        families.get("cnn", where="models.bilstm.family")
    message = str(caught.value)
    assert message == "unknown model family 'cnn' (at models.bilstm.family); choose one of: rnn, transformer"
    assert isinstance(caught.value, KeyError)  # callers that catch KeyError still do


def test_unknown_name_without_a_place_and_in_an_empty_registry():
    empty = Registry("metric")
    with pytest.raises(UnknownNameError, match=r"^unknown metric 'jsd'; choose one of: $"):
        empty.get("jsd")


def test_the_project_registries_name_their_entries():
    from analysis.metrics.agreement import METRICS

    with pytest.raises(UnknownNameError, match="choose one of: .*kendall_tau"):
        METRICS.get("spearman_rho", where="agreement.metrics")


def test_every_importance_method_declares_the_unit_of_its_scores():
    """A reader normalising or comparing scores needs each method's unit: registering a method without one fails."""
    from analysis.importance import IMPORTANCE_METHODS, ImportanceMethod, register_method

    assert len(IMPORTANCE_METHODS.names()) >= 20
    missing = [name for name, method in IMPORTANCE_METHODS.items()
               if not isinstance(getattr(method, "unit", None), str) or not method.unit.strip()]
    assert missing == []

    class Unitless(ImportanceMethod):
        name, label, short_label, order, family, signed = "unitless", "Unitless", "U", 999, "random", False

        def explain(self, model, batch):
            raise NotImplementedError

    with pytest.raises(ValueError, match="method 'unitless': declare a non-empty class attribute 'unit'"):
        register_method(Unitless)
    assert "unitless" not in IMPORTANCE_METHODS
