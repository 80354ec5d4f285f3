"""Study reports: findings generated from the numbers, in markdown and self-contained HTML."""

from analysis.report.summary import Finding, agreement_findings, write_summary

__all__ = ["Finding", "agreement_findings", "write_summary"]

from analysis.report.sections import REPORT_SECTIONS, Section, build_sections  # noqa: E402

__all__ += ["REPORT_SECTIONS", "Section", "build_sections"]
