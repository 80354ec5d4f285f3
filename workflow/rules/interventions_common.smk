"""Names and input functions of the causal-test rules (interventions.smk); functions only, no rules."""

INTERVENTION_FIGURES = {
    "permutation": "Causal tests ({dataset}): median output change (TVD) when attention is permuted, against the "
    "maximum attention weight (Jain & Wallace 2019).",
    "adversarial": "Causal tests ({dataset}): JSD of adversarial attention found within the output constraint "
    "(Jain & Wallace 2019).",
    "flip_fraction": "Causal tests ({dataset}): fraction of words whose attention is zeroed before the decision "
    "flips, per ranking (Serrano & Smith 2019).",
    "aopc": "Causal tests ({dataset}): AOPC comprehensiveness and sufficiency of every ranking with 95% intervals "
    "(ERASER).",
    "curves": "Causal tests ({dataset}): deletion and insertion curves of every ranking.",
}


def interventions_settings(wildcards):
    return json.dumps(config["interventions"], sort_keys=True)


def interventions_study_settings(wildcards):
    return json.dumps({"interventions": config["interventions"], "models": config["models"]}, sort_keys=True)


def interventions_of_dataset(name):
    """Input function: one per-run table of every model and seed of the figure's dataset."""

    def inputs(wildcards):
        return [run_path(wildcards.dataset, m, s, f"interventions/{name}.parquet") for m in MODELS for s in SEEDS]

    return inputs


def interventions_figure(name):
    return res(f"study/figures/interventions/{{dataset}}/{name}.png")
