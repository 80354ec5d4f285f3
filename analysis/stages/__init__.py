"""The workflow's stages: one module per rule file, the only code the Snakemake scripts call.

``analysis/stages/<name>.py`` holds the stages of ``workflow/rules/<name>.smk`` (data,
train, importance, agreement, figures, interventions, groundtruth, heads, report), and
:mod:`~analysis.stages.common` what they share, as ``common.smk`` does for the rules. A
stage reads its input tables, calls the analyses and methods below it, and writes tidy
tables with provenance; paths come in from the rule, nothing here names an output folder.

Each stage that reads the config takes a typed settings block (a frozen dataclass beside
it) holding exactly the config values it reads, never the whole config. Its rule passes
``XSettings.from_config(config, ...).as_params()`` as ``params: settings`` and the script
rebuilds it with ``XSettings(**snakemake.params.settings)``, so changing a value reruns
exactly the jobs that read it. Imports point down: nothing under ``analysis`` outside
this package imports it (``tests/test_layers.py``).
"""
