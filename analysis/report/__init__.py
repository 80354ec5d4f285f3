"""Study reports: one document model (:mod:`.document`) rendered to markdown and self-contained HTML.

- :mod:`.document`: blocks (paragraph, list, findings, table, figure, details, group), sections,
  the document, and the two renderers.
- :mod:`.sections`: the registry of sections that analyses contribute, figures by key.
- :mod:`.report_section`: the core sections (agreement, accuracy, methods, cost, data).
- :mod:`.summary`: the agreement findings and :func:`write_summary`, the study summary.
- :mod:`.examples`: the per-example view; :mod:`.data`: published parquet data and its card;
  :mod:`.publish`: copying a report into the repository within its size budget.
"""

from analysis.report.document import (
    Block,
    BulletList,
    Details,
    Document,
    Figure,
    Findings,
    Group,
    Paragraph,
    Section,
    Table,
    render_html,
    render_markdown,
)
from analysis.report.summary import Finding, agreement_findings, write_summary

__all__ = ["Block", "BulletList", "Details", "Document", "Figure", "Finding", "Findings", "Group", "Paragraph",
           "Section", "Table", "agreement_findings", "render_html", "render_markdown", "write_summary"]

from analysis.report.sections import REPORT_SECTIONS, build_sections  # noqa: E402

__all__ += ["REPORT_SECTIONS", "build_sections"]
