"""The access report: who reads what, where and how, with lineage and scan findings, as one page.

:func:`build_report` computes it from the decision (pure, no database); :func:`render_html` renders
it. ``policyengine report --html`` is the command.
"""

from policyengine.report.html import render_html
from policyengine.report.model import AccessReport, Cell, LineageEdge, TableMatrix, build_report
from policyengine.report.scan import Finding, FindingsInvalid, read_findings

__all__ = ["AccessReport", "Cell", "Finding", "FindingsInvalid", "LineageEdge", "TableMatrix", "build_report",
           "read_findings", "render_html"]
