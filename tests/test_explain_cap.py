"""A per-model cap on the explained examples: a random prefix, shared by every stage, model and seed."""

import pandas as pd
import pytest

from analysis.config import ConfigError, check_registries, explain_cap, load_config
from analysis.data import explained_by, random_prefix, stratified_sample
from analysis.interventions.suite import choose_examples
from analysis.stages.importance import ExplainSettings


def label_ordered_pool(n: int = 200) -> pd.DataFrame:
    """Ids follow the source file, which holds every negative example first (as the IMDB mirror does)."""
    return pd.DataFrame({"example_id": [f"imdb-test-{i:05d}" for i in range(n)],
                         "label": [0] * (n // 2) + [1] * (n // 2)})


def test_prefix_of_the_explain_order_is_a_mixed_random_subsample():
    explain = stratified_sample(label_ordered_pool(), 100, seed=0)
    first = random_prefix(explain, 20)
    assert list(first["example_id"]) == list(explain["example_id"][:20])
    assert 0 < first["label"].mean() < 1  # both classes, unlike the first 20 ids
    assert set(random_prefix(explain, 10)["example_id"]) <= set(first["example_id"])  # nested caps
    assert random_prefix(explain, None).equals(explain)


def test_causal_tests_take_the_same_prefix_not_the_first_ids():
    explain = stratified_sample(label_ordered_pool(), 100, seed=0)
    chosen = choose_examples(explain, 20)
    assert list(chosen["example_id"]) == list(explain["example_id"][:20])
    by_id = explain.sort_values("example_id").head(20)
    assert by_id["label"].eq(0).all() and chosen["label"].nunique() == 2


def test_downstream_stages_keep_only_what_the_model_explained():
    explain = stratified_sample(label_ordered_pool(), 50, seed=1)
    importance = pd.DataFrame({"example_id": list(explain["example_id"][:7]) * 3})
    kept = explained_by(explain, importance)
    assert list(kept["example_id"]) == list(explain["example_id"][:7])


def test_the_cap_is_a_setting_of_the_model_and_dataset_it_caps():
    config = load_config("config/tiny.yaml")
    config["models"]["minilm"]["explain_n"] = 5
    assert ExplainSettings.from_config(config, dataset="synthetic", model="minilm").explain_n == 5
    assert ExplainSettings.from_config(config, dataset="synthetic", model="bilstm_tanh").explain_n is None
    config["models"]["minilm"]["explain_n"] = {"default": 250, "synthetic": 7}
    assert explain_cap(config, "synthetic", "minilm") == 7
    assert explain_cap(config, "imdb", "minilm") == 250


def test_a_cap_for_a_dataset_not_in_the_study_is_refused_with_a_hint():
    config = load_config("config/tiny.yaml")
    config["models"]["minilm"]["explain_n"] = {"synthetc": 5}
    with pytest.raises(ConfigError, match=r"models.minilm.explain_n: 'synthetc' is not a dataset.*synthetic"):
        check_registries(config)


def test_a_model_trains_on_a_prefix_of_the_training_table():
    from analysis.config import dataset_cap

    assert dataset_cap({"imdb": 3000}, "imdb") == 3000 and dataset_cap({"imdb": 3000}, "sst2") is None
    assert dataset_cap({"default": 5, "imdb": 3}, "sst2") == 5 and dataset_cap(7, "imdb") == 7
    config = load_config("config/tiny.yaml")
    config["models"]["minilm"]["train_n"] = {"synthetc": 5}
    with pytest.raises(ConfigError, match=r"models.minilm.train_n: 'synthetc' is not a dataset"):
        check_registries(config)


def test_the_heads_selection_split_avoids_only_what_the_transformers_explain():
    from analysis.stages.heads import SelectionSetSettings

    config = load_config("config/tiny.yaml")
    assert SelectionSetSettings.from_config(config, dataset="synthetic").explained_n is None
    config["models"]["minilm"]["explain_n"] = {"default": 250, "synthetic": 5}
    # the RNN explains every example; the selection split is drawn from those MiniLM does not explain
    assert SelectionSetSettings.from_config(config, dataset="synthetic").explained_n == 5


def test_vocabulary_threshold_per_dataset_leaves_the_other_datasets_training_settings_unchanged():
    from analysis.config import model_entry_for
    from analysis.stages.train import TrainSettings

    config = load_config("config/tiny.yaml")
    before = TrainSettings.from_config(config, dataset="synthetic", model="bilstm_tanh")
    config["models"]["bilstm_tanh"]["min_count"] = before.model.get("min_count", 1)
    before = TrainSettings.from_config(config, dataset="synthetic", model="bilstm_tanh")
    config["models"]["bilstm_tanh"]["min_count"] = {"default": 10, "synthetic": before.model["min_count"]}
    check_registries(config)
    # a dataset whose value did not change trains exactly as before (same params: no rerun of finished jobs)
    assert TrainSettings.from_config(config, dataset="synthetic", model="bilstm_tanh") == before
    assert model_entry_for(config, "imdb", "bilstm_tanh")["min_count"] == 10
    config["models"]["bilstm_tanh"]["min_count"] = {"imdb_typo": 10}
    assert "min_count" not in model_entry_for(config, "synthetic", "bilstm_tanh")
    with pytest.raises(ConfigError, match=r"models.bilstm_tanh.min_count: 'imdb_typo' is not a dataset"):
        check_registries(config)
