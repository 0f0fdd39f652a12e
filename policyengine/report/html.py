"""Rendering the access report as one self-contained HTML page, with the jinja2 template in
``templates/``.

Self-contained because the page is meant to be attached to a review or an audit ticket and opened
anywhere, offline: styles are inline, there is no script, and the page's Content-Security-Policy
forbids loading anything from elsewhere. Autoescaping is on: table, column and role names and
descriptions come from policy files and must never become markup.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from policyengine.report.model import AccessReport

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_html(report: AccessReport) -> str:
    """The page's HTML text."""
    return _environment().get_template("report.html.j2").render(report=report)
