"""Report sections contributed by analyses: one registered builder per analysis.

An analysis (causal tests, ground truth, transformer variants, ...) adds its part of the
study summary by registering a builder here, from a module ``analysis/<its package>/
report_section.py`` (imported automatically). The builder receives the config, the
study-wide tables the workflow gathered (by name) and figure paths (by caption), and
returns a :class:`Section`, or ``None`` when its tables are absent from the study. Its
``findings`` are generated statements that join the summary's findings list; its
``tables`` are written as CSV beside the summary's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.registry import Registry


@dataclass
class Section:
    """One titled part of the study summary, in markdown and in HTML."""

    title: str
    markdown: str
    html: str
    findings: list[str] = field(default_factory=list)
    order: int = 50
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # written beside the summary as CSV


SectionBuilder = Callable[[dict[str, Any], dict[str, pd.DataFrame], dict[str, str]], "Section | None"]

REPORT_SECTIONS: Registry[SectionBuilder] = Registry("report section")


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
    sections = []
    for _, builder in REPORT_SECTIONS.items():
        section = builder(config, tables, figures)
        if section is not None:
            sections.append(section)
    return sorted(sections, key=lambda s: (s.order, s.title))
