"""Snakemake adapter: analysis.report.publish.publish_report."""

import logging
import shlex
from pathlib import Path

from analysis.logs import configure_logging
from analysis.report.publish import code_version, publish_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
configure_logging(sm.log[0])
configs = list(sm.params.config_files)
# the target goes first: --configfile and --config take every word after them
command = " ".join(["HF_HUB_OFFLINE=1 snakemake publish --cores all", *(f"--configfile {shlex.quote(c)}" for c in configs)])
written = publish_report(html=Path(sm.input.html), markdown=Path(sm.input.markdown), tables=Path(sm.input.tables),
                         out=Path(sm.output[0]), title=sm.config.get("title", sm.config["study"]),
                         command=command, config_files=configs,
                         code=code_version(Path.cwd(), ignore=(str(sm.output[0]),)))
logging.getLogger("analysis.publish").info("published %d files to %s", len(written), sm.output[0])
