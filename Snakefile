"""Is attention an explanation? The study workflow.

    snakemake --cores all                                   # offline default study
    snakemake --cores all --configfile config/study.yaml    # public-benchmark study
    snakemake --report report.html                          # Snakemake HTML report
"""

from snakemake.utils import min_version

min_version("8.0")


# The default study, unless --configfile names another one: configs describe whole studies,
# so a second config replaces the default instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


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
