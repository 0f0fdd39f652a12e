"""Reading what a Snowflake schema holds now, into the same model that checks plans against
Snowflake's rules (:mod:`policyengine.ddl.snowflake_model`).

Everything apply decides comes from here: policies with their bodies, signatures and
``EXEMPT_OTHER_POLICIES``; where they are attached; tags with their allowed values and the values on
columns; the masking policies set on tags; the keyed functions and the key fingerprint their comment
records; the tables' real column types (tag-based masking applies only where the type matches); and
the record of the last apply, from which drift is told apart from planned change.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from policyengine.ddl.snowflake_model import (
    Attachment,
    Function,
    Policy,
    SnowflakeModel,
    Tag,
    normalize_type,
    type_family,
)
from policyengine.ddl.snowflake_plan import PROTECTION_TAG, SENSITIVITY_TAG, SnowflakePlan, identifier

#: the table in which apply records what it last made the schema look like
APPLIED_TABLE = "PE_APPLIED"


class Connection(Protocol):
    def cursor(self) -> Any: ...


def rows(connection: Connection, sql: str) -> list[dict[str, Any]]:
    cursor = connection.cursor()
    cursor.execute(sql)
    names = [d[0].lower() for d in cursor.description or []]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def parse_signature(text: str) -> tuple[tuple[str, str], ...]:
    """``(VAL VARCHAR(16777216), X NUMBER(38, 0))`` as ((VAL, VARCHAR), (X, NUMBER(38,0)))."""
    inner = text.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    out = []
    for argument in re.split(r",\s*(?![^()]*\))", inner):
        if argument.strip():
            name, kind = argument.strip().split(None, 1)
            out.append((name.strip('"').upper(), normalize_type(kind)))
    return tuple(out)


def _exempt(options: Any) -> bool:
    """SHOW ... POLICIES' ``options``: empty, or ``{"EXEMPT_OTHER_POLICIES": "TRUE"}``."""
    if not options:
        return False
    try:
        return str(json.loads(str(options)).get("EXEMPT_OTHER_POLICIES", "")).upper() == "TRUE"
    except (ValueError, AttributeError):
        return "EXEMPT_OTHER_POLICIES" in str(options).upper() and "TRUE" in str(options).upper()


def _allowed(value: Any) -> tuple[str, ...] | None:
    if value in (None, ""):
        return None
    try:
        return tuple(str(v) for v in json.loads(str(value)))
    except ValueError:
        return tuple(v.strip().strip('"') for v in str(value).strip("[]").split(",") if v.strip())


def _column_type(row: dict[str, Any]) -> str:
    kind = str(row["data_type"]).upper()
    if kind in ("NUMBER", "DECIMAL", "NUMERIC") and row.get("numeric_precision") is not None:
        return f"NUMBER({int(row['numeric_precision'])},{int(row.get('numeric_scale') or 0)})"
    return kind


def _arguments(text: Any) -> tuple[str, ...]:
    return tuple(a.strip().strip("'\" ").upper() for a in str(text or "").strip("[] ").split(",") if a.strip())


def read_existing(connection: Connection, plan: SnowflakePlan) -> SnowflakeModel:
    """The schema's governance state, as the model holds it."""
    scope = ".".join(identifier(p) for p in (plan.database, plan.schema) if p)
    where = f" IN SCHEMA {scope}" if plan.schema else ""
    state = SnowflakeModel()
    for kind, noun in (("MASKING", "MASKING POLICIES"), ("ROW_ACCESS", "ROW ACCESS POLICIES"),
                       ("PROJECTION", "PROJECTION POLICIES")):
        for row in rows(connection, f"SHOW {noun}{where}"):
            name = str(row["name"]).upper()
            if not name.startswith("PE_"):
                continue
            described = rows(connection, f"DESCRIBE {noun[:-3]}Y {plan.qualified(name)}")
            if described:
                detail = described[0]
                state.policies[name] = Policy(
                    name=name, kind=kind, signature=parse_signature(str(detail["signature"])),
                    returns=normalize_type(str(detail.get("return_type") or "")), body=str(detail["body"]),
                    exempt=_exempt(row.get("options")), comment=str(row.get("comment") or ""))
    information_schema = (identifier(plan.database) + "." if plan.database else "") + "INFORMATION_SCHEMA"
    for table in plan.tables():
        qualified = plan.table_name(table)
        for row in rows(connection, f"SELECT * FROM TABLE({information_schema}.POLICY_REFERENCES("
                                    f"REF_ENTITY_NAME => '{qualified}', REF_ENTITY_DOMAIN => 'table'))"):
            if row.get("tag_name"):
                continue  # applied through a tag: read from the tag's own references below
            column = row.get("ref_column_name")
            state.attachments.append(Attachment(
                policy=str(row["policy_name"]).upper(), kind=str(row["policy_kind"]).upper(),
                table=qualified.lower(), column=str(column).upper() if column else None,
                arguments=_arguments(row.get("ref_arg_column_names"))))
        for row in rows(connection, f"SELECT * FROM TABLE({information_schema}.TAG_REFERENCES_ALL_COLUMNS("
                                    f"'{qualified}', 'table'))"):
            state.tag_values[(qualified.lower(), str(row["column_name"]).upper(), str(row["tag_name"]).upper())] = \
                str(row["tag_value"])
    for row in rows(connection, f"SHOW TAGS{where}"):
        name = str(row["name"]).upper()
        state.tags[name] = Tag(name=name, allowed_values=_allowed(row.get("allowed_values")),
                               comment=str(row.get("comment") or ""))
    for tag in (SENSITIVITY_TAG, PROTECTION_TAG):
        if tag in state.tags:
            found = rows(connection, f"SELECT * FROM TABLE({information_schema}.POLICY_REFERENCES("
                                     f"REF_ENTITY_NAME => '{plan.qualified(tag)}', REF_ENTITY_DOMAIN => 'tag'))")
            on_tag: dict[str, str] = {}
            for row in found:
                name = str(row["policy_name"]).upper()
                policy = state.policies.get(name)
                if policy is not None and policy.signature:
                    kind = policy.signature[0][1]
                else:  # not one of ours: its data type still decides which type's slot on the tag it holds
                    described = rows(connection, f"DESCRIBE MASKING POLICY {plan.qualified(name)}")
                    signature = parse_signature(str(described[0]["signature"])) if described else ()
                    kind = signature[0][1] if signature else "UNKNOWN"
                on_tag[type_family(kind)] = name
            state.tag_policies[tag] = on_tag
    for row in rows(connection, f"SHOW USER FUNCTIONS{where}"):
        name = str(row["name"]).upper()
        state.functions[name] = Function(name=name, comment=str(row.get("description") or ""), imports=())
    schema_filter = f" WHERE TABLE_SCHEMA = '{_stored(plan.schema)}'" if plan.schema else ""
    for row in rows(connection, f"SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE "
                                f"FROM {information_schema}.COLUMNS{schema_filter}"):
        for table in plan.tables():
            if _stored(table.name.split(".")[-1]) == str(row["table_name"]):
                columns = state.columns.setdefault(plan.table_name(table).lower(), {})
                columns[str(row["column_name"])] = _column_type(row)
    try:
        recorded = rows(connection, f"SELECT ITEM, VALUE FROM {plan.qualified(APPLIED_TABLE)}")
    except Exception:  # noqa: BLE001 - no record yet: the table does not exist before the first apply
        recorded = None
    if recorded is not None:
        state.rows[APPLIED_TABLE] = [(str(r["item"]), str(r["value"])) for r in recorded]
    return state


def _stored(name: str) -> str:
    """How Snowflake stores a name we write: unquoted simple names in upper case, quoted ones as they are."""
    written = identifier(name)
    return written.upper() if not written.startswith('"') else written.strip('"')
