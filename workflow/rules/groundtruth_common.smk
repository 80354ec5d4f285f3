"""Names, selections and input functions of the ground-truth rules (groundtruth.smk); no rules here."""

from analysis.groundtruth.stages import check_groundtruth_config, rationale_datasets, sanity_runs, shortcut_datasets

check_groundtruth_config(config)

GT_SHORTCUT_DATASETS = shortcut_datasets(config)
GT_RATIONALE_DATASETS = rationale_datasets(config)
GT_SANITY_RUNS = sanity_runs(config)


def gt_run_paths(datasets, name):
    """Per-run output ``name`` for every model and seed of the given datasets."""
    return [run_path(d, m, s, name) for d, m, s in runs() if d in datasets]


def gt_settings(wildcards):
    return json.dumps(
        {"groundtruth": config["groundtruth"], "dataset": config["datasets"][wildcards.dataset]}, sort_keys=True
    )


def gt_sanity_settings(wildcards):
    return json.dumps(
        {"groundtruth": config["groundtruth"], "importance": json.loads(importance_settings(wildcards))},
        sort_keys=True,
    )


# study table -> the per-run tables it gathers; analyses without runs have no table
GT_GATHERED = {
    "groundtruth_shortcut": gt_run_paths(GT_SHORTCUT_DATASETS, "groundtruth/shortcut_summary.parquet"),
    "groundtruth_reliance": gt_run_paths(GT_SHORTCUT_DATASETS, "groundtruth/shortcut_reliance.parquet"),
    "groundtruth_plausibility": gt_run_paths(GT_RATIONALE_DATASETS, "groundtruth/plausibility_summary.parquet"),
    "groundtruth_sanity": [run_path(d, m, s, "groundtruth/sanity_summary.parquet") for d, m, s in GT_SANITY_RUNS],
}
GT_GATHERED = {name: paths for name, paths in GT_GATHERED.items() if paths}

# figure -> the study tables it is drawn from; an analysis without runs has no figure
GT_FIGURES = {
    "shortcut_reliance": ["groundtruth_reliance"],
    "shortcut_detection": ["groundtruth_shortcut", "groundtruth_reliance"],
    "plausibility": ["groundtruth_plausibility"],
    "sanity": ["groundtruth_sanity"],
}
GT_FIGURES = {name: tables for name, tables in GT_FIGURES.items() if all(t in GT_GATHERED for t in tables)}
GT_KINDS = sorted({name.split("_")[0] for name in GT_FIGURES})
GT_CAPTIONS = {
    "shortcut_reliance": "Planted shortcut: does each model rely on the token (insertion and deletion tests)?",
    "shortcut_detection": "Planted shortcut: which importance methods rank the known cause first?",
    "plausibility": "Plausibility: agreement of each method with the rationales (not faithfulness).",
    "sanity": "Sanity check: rank correlation with the trained model's scores under cascading randomisation.",
}


def gt_gathered(wildcards):
    return GT_GATHERED[wildcards.table]


def gt_figure_tables(wildcards):
    return {name: res(f"study/{name}.parquet") for name in GT_FIGURES[wildcards.figure]}


def gt_kind_tables(wildcards):
    names = {t for figure, tables in GT_FIGURES.items() if figure.startswith(wildcards.kind) for t in tables}
    return {name: res(f"study/{name}.parquet") for name in sorted(names)}


# the study summary's section reads these tables and figures; the HTML tables join rule all
for _name in GT_GATHERED:
    STUDY_TABLES[_name] = res(f"study/{_name}.parquet")
for _figure in GT_FIGURES:
    STUDY_FIGURES[GT_CAPTIONS[_figure]] = res(f"study/figures/groundtruth_{_figure}.png")
EXTRA_TARGETS.extend(res(f"study/groundtruth/{kind}.html") for kind in GT_KINDS)
