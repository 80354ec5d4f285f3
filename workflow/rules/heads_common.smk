"""Names, settings and study hooks of the per-head rules (heads.smk); functions only, no rules."""

from analysis.heads.stages import check_heads_config, heads_models

check_heads_config(config)

HEADS_MODELS = heads_models(config)
HEADS_RUNS = [(d, m, s) for d, m, s in runs() if m in HEADS_MODELS]


def heads_paths(name):
    """Per-run output ``name`` for every transformer run."""
    return [run_path(d, m, s, name) for d, m, s in HEADS_RUNS]


def heads_settings(wildcards):
    return json.dumps(
        {
            "heads": config["heads"],
            "importance": json.loads(importance_settings(wildcards)),
            "length_buckets": config["agreement"]["length_buckets"],
        },
        sort_keys=True,
    )


def heads_dataset_settings(wildcards):
    return json.dumps({"selection_n": config["heads"]["selection_n"], "seed": config["data_seed"]}, sort_keys=True)


if HEADS_RUNS:
    STUDY_TABLES["heads_summary"] = res("study/heads_summary.parquet")
    STUDY_TABLES["heads_selection"] = res("study/heads_selection.parquet")
    STUDY_TABLES["heads_cost"] = res("study/heads_cost.parquet")
    STUDY_TABLES["heads_agreement"] = res("study/agreement_summary.parquet")
    STUDY_TABLES["heads_comparisons"] = res("study/comparisons.parquet")
    for _d, _m, _s in HEADS_RUNS:
        STUDY_FIGURES[
            f"Per-head [CLS] attention vs causal importance: {_d} / {_m} / seed {_s}. Each cell is one head's mean "
            "agreement with a causal method (red: agrees, white: chance); solid boxes mark the head and layer chosen "
            "on the held-out selection split, dashed boxes the post-hoc best on the explained examples. Read the "
            "explained-examples panels for results; a grid that changes between the two splits means single-head "
            "rankings are noise at this sample size."
        ] = run_path(_d, _m, _s, "figures/heads.png")
