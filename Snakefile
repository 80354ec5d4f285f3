"""Is attention an explanation? The study workflow.

snakemake --cores all                                   # offline default study
snakemake --cores all --configfile config/study.yaml    # public-benchmark study
snakemake --report report.html                          # Snakemake HTML report
"""

from snakemake.utils import min_version

from analysis.config import DEFAULT_CONFIG, is_whole_study

min_version("8.0")


# `config` holds the --configfile files and --config values, merged. When they name a whole
# study (study, datasets, models, seeds) that is the study; otherwise they overlay the default
# study, as in `--configfile config/study.yaml mine.yaml` (one flag: Snakemake keeps only the last of
# repeated --configfile flags) or a lone
# `--configfile mine.yaml` with only some keys (mappings merge key by key; lists and scalars
# replace). workflow/rules/common.smk validates the result.
if not is_whole_study(config):

    configfile: str(DEFAULT_CONFIG)


report: "workflow/report/workflow.rst"


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    shard="[0-9]+",
    model="[A-Za-z0-9_.-]+",
    seed="[0-9]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/importance.smk"
include: "workflow/rules/agreement.smk"
include: "workflow/rules/interventions.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/groundtruth.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
