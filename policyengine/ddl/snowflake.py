"""Rendering a :class:`SnowflakePlan` as DDL text with the jinja2 templates in ``sql/snowflake``."""

from __future__ import annotations

from pathlib import Path

import jinja2

from policyengine.ddl import snowflake_statements
from policyengine.ddl.keyed_handler import KEY_FILE, KEY_STAGE
from policyengine.ddl.snowflake_plan import SnowflakePlan


def _templates() -> Path:
    """``sql/snowflake``: ``policyengine/sql_templates`` links to the top-level ``sql/`` in the source
    tree, and holds copies of its files in an installed wheel."""
    return Path(__file__).resolve().parent.parent / "sql_templates" / "snowflake"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_templates())), undefined=jinja2.StrictUndefined,
                              autoescape=False, keep_trailing_newline=True)


def render(plan: SnowflakePlan, *, fingerprint: str | None = None, create_tables: bool = False) -> str:
    """The DDL text. It never holds key material: the keyed UDFs read the derived keys from a staged
    file whose writing and upload the text explains; ``fingerprint`` (of the key in use, when one is
    configured) is recorded in their comment so ``apply`` later sees whether the key changed.

    ``create_tables``: tables that do not exist are created with their policies and tags inline
    (``WITH MASKING POLICY``, ``WITH ROW ACCESS POLICY``); tables that exist get them attached.
    """
    template = _environment().get_template("policies.sql.j2")
    return template.render(plan=plan, sf=snowflake_statements, fingerprint=fingerprint, create_tables=create_tables,
                           key_file=KEY_FILE, key_stage=KEY_STAGE)


def statements(text: str) -> list[str]:
    """Split rendered DDL into statements (``$$`` bodies and quoted strings kept whole), comments dropped."""
    out, current, quote, i = [], [], None, 0
    while i < len(text):
        if quote is None and text.startswith("--", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        if text.startswith("$$", i) and quote in (None, "$$"):
            quote = None if quote == "$$" else "$$"
            current.append("$$")
            i += 2
            continue
        char = text[i]
        if quote is None and char == "'":
            quote = "'"
        elif quote == "'" and char == "'":
            if text.startswith("''", i):
                current.append("''")
                i += 2
                continue
            quote = None
        if quote is None and char == ";":
            statement = "".join(current).strip()
            if statement:
                out.append(statement)
            current = []
        else:
            current.append(char)
        i += 1
    tail = "".join(current).strip()
    if tail:
        out.append(tail)
    return out
