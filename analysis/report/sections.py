"""Report sections contributed by analyses: one registered builder per analysis.

An analysis (causal tests, ground truth, transformer variants, ...) adds its part of the
study summary by registering a builder here, from a module ``analysis/<its package>/
report_section.py`` (imported automatically). The builder receives the config, the
study-wide tables the workflow gathered (by name) and the figure files (by key, see
:func:`figure_key`), and returns a :class:`~analysis.report.document.Section` made of blocks,
or ``None`` when its tables are absent from the study. Its ``findings`` are the generated
statements it shows; its ``tables`` are written as CSV beside the summary's own.

Figure keys name what a figure shows, never its caption: ``accuracy``,
``attention_concentration``, ``groundtruth/<figure>``, ``interventions/<dataset>/<figure>``,
``<figure>/<dataset>/<model>/<seed>`` for per-run figures (``matrix``, ``heatmaps``, ``heads``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.registry import Registry
from analysis.report.document import Section

__all__ = ["REPORT_SECTIONS", "Section", "SectionBuilder", "build_sections", "figure_key", "figures_by_key",
           "figures_under", "load_section_modules"]

SectionBuilder = Callable[[dict[str, Any], dict[str, pd.DataFrame], dict[str, str]], "Section | None"]

REPORT_SECTIONS: Registry[SectionBuilder] = Registry("report section")


def figure_key(path: str | Path) -> str:
    """The key of a figure file the workflow wrote, from where the workflow writes it.

    ``study/figures/interventions/<d>/<name>.png`` -> ``interventions/<d>/<name>``;
    ``study/figures/groundtruth_<name>.png`` -> ``groundtruth/<name>``;
    ``<d>/<m>/<seed>/figures/<name>.png`` -> ``<name>/<d>/<m>/<seed>``; any other
    ``<name>.png`` -> ``<name>``. Used only for callers that still pass figures by caption.
    """
    path = Path(path)
    parts = path.parts
    if len(parts) >= 3 and parts[-3] == "interventions":
        return f"interventions/{parts[-2]}/{path.stem}"
    if path.stem.startswith("groundtruth_"):
        return f"groundtruth/{path.stem.removeprefix('groundtruth_')}"
    if len(parts) >= 5 and parts[-2] == "figures" and parts[-3].lstrip("-").isdigit():
        return f"{path.stem}/{parts[-5]}/{parts[-4]}/{parts[-3]}"
    return path.stem


def figures_by_key(figures: dict[str, str] | None) -> dict[str, str]:
    """``figures`` keyed as :func:`figure_key` says; keys that are already keys (no spaces) are kept.

    The workflow passes keys; a mapping from captions (older callers) is re-keyed by file.
    """
    keyed = {}
    for name, path in (figures or {}).items():
        keyed[name if (" " not in name and "." not in name.rsplit("/", 1)[-1]) else figure_key(path)] = str(path)
    return keyed


def figures_under(figures: dict[str, str], prefix: str) -> dict[tuple[str, ...], str]:
    """The figures whose key starts with ``prefix/``, by the rest of the key split at ``/``."""
    head = prefix.rstrip("/") + "/"
    return {tuple(key[len(head):].split("/")): path for key, path in figures.items() if key.startswith(head)}


def load_section_modules() -> None:
    """Import ``analysis.<subpackage>.report_section`` wherever one exists (registers its builders)."""
    import importlib
    import importlib.util
    import pkgutil

    import analysis

    for info in pkgutil.iter_modules(analysis.__path__):
        name = f"analysis.{info.name}.report_section"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def build_sections(config: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, str]) -> list[Section]:
    """Every registered section that has data in this study, in display order."""
    load_section_modules()
    keyed = figures_by_key(figures)
    sections = []
    for _, builder in REPORT_SECTIONS.items():
        section = builder(config, tables, keyed)
        if section is not None:
            sections.append(section)
    return sorted(sections, key=lambda s: (s.order, s.title))
