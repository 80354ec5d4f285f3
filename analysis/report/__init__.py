"""Study reports: findings generated from the numbers, in markdown and self-contained HTML."""

from analysis.report.summary import Finding, agreement_findings, write_summary

__all__ = ["Finding", "agreement_findings", "write_summary"]
