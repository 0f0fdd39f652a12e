"""A stand-in for a Snowflake connection, on the product's strict model (policyengine.ddl.snowflake_model).

No Snowflake account can be reached here. Every statement goes to :class:`SnowflakeModel`, which
refuses what Snowflake documents it refuses (a :class:`RuleViolation` naming the rule and its page,
raised as the connector raises a ProgrammingError). This file only answers the reads ``apply`` makes
(SHOW / DESCRIBE / POLICY_REFERENCES / TAG_REFERENCES_ALL_COLUMNS / INFORMATION_SCHEMA.COLUMNS / LIST),
with Snowflake's column names and value formats, and reads the local file of a PUT.

DESCRIBE returns signatures and bodies reformatted as Snowflake does (upper-case types,
VARCHAR(16777216), other line breaks), so the planner's normalization is exercised.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyengine.ddl.snowflake_model import (
    IDENT,
    QNAME,
    STRING,
    NotFound,
    NotUnderstood,
    SnowflakeError,
    SnowflakeModel,
    column_name,
    info_type,
    object_name,
    split_top,
    string_value,
    table_key,
)
from policyengine.ddl.snowflake_plan import SnowflakePlan, identifier, snowflake_type

#: what tests catch: every refusal of the model (RuleViolation, NotFound, NotUnderstood...)
FakeSnowflakeError = SnowflakeError

Rows = tuple[list[str], list[tuple[Any, ...]]]

_NOUNS = {"MASKING": "MASKING_POLICY", "ROW_ACCESS": "ROW_ACCESS_POLICY", "PROJECTION": "PROJECTION_POLICY"}


@dataclass
class FakeSnowflake:
    model: SnowflakeModel = field(default_factory=SnowflakeModel)
    database: str = ""
    schema: str = ""
    executed: list[str] = field(default_factory=list)

    @classmethod
    def for_policy_set(cls, policy_set, database: str, schema: str,  # type: ignore[no-untyped-def]
                       types: dict[tuple[str, str], str] | None = None) -> FakeSnowflake:
        """A schema holding the policy set's tables, columns typed as the contracts imply (``types``, by
        (table name, column name) as the policy set writes them, stands for a real type that differs)."""
        fake = cls(database=column_name(identifier(database)), schema=column_name(identifier(schema)))
        names = SnowflakePlan("", database, schema)
        for table in policy_set.tables.values():
            columns = {}
            for column in table.columns:
                declared = (types or {}).get((table.name, column.name)) or snowflake_type(column)
                columns[column_name(identifier(column.name))] = info_type(declared)
            fake.model.columns[table_key(names.table_name(table))] = columns
        return fake

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    # --- statements ------------------------------------------------------------------------------

    def run(self, sql: str) -> Rows:
        """One statement: a read answered here, anything else interpreted by the model."""
        text = sql.strip()
        self.executed.append(text)
        flat = " ".join(text.split())
        answered = self._query(flat)
        if answered is not None:
            return answered
        if flat.upper().startswith("PUT "):
            found = re.match(r"PUT '(?:file://)?(.+?)' ", flat, re.I)
            if not found:
                raise NotUnderstood("the fake does not understand this PUT")
            content = Path(found.group(1)).read_text()
            rows = self.model.execute(text, put_content=content) or []
            return (["source", "target", "source_size", "target_size", "source_compression", "target_compression",
                     "status", "message"], rows)
        if flat.upper().startswith("SELECT "):
            rows = self.model.execute(text) or []
            listed = re.match(r"SELECT (.+?) FROM ", flat, re.I)
            names = [c.strip().strip('"') for c in split_top(listed.group(1))] if listed else []
            return (names, rows)
        self.model.execute(text)
        return (["status"], [("Statement executed successfully.",)])

    # --- reads -----------------------------------------------------------------------------------

    def _scope(self, text: str | None) -> tuple[str, str]:
        if not text:
            return self.database, self.schema
        parts = [column_name(p) for p in re.findall(IDENT, text)]
        return (parts[-2] if len(parts) > 1 else self.database), parts[-1]

    def _query(self, flat: str) -> Rows | None:
        m = re.match(rf"SHOW (MASKING|PROJECTION|ROW ACCESS) POLICIES(?: IN SCHEMA ({QNAME}))?$", flat, re.I)
        if m:
            kind = m.group(1).upper().replace(" ", "_")
            database, schema = self._scope(m.group(2))
            rows = [(p.name, database, schema, _NOUNS[kind], "POLICYENGINE_ADMIN", p.comment,
                     json.dumps({"EXEMPT_OTHER_POLICIES": "TRUE"}) if p.exempt else "")
                    for _, p in sorted(self.model.policies.items()) if p.kind == kind]
            return (["name", "database_name", "schema_name", "kind", "owner", "comment", "options"], rows)
        m = re.match(rf"DESC(?:RIBE)? (MASKING|PROJECTION|ROW ACCESS) POLICY ({QNAME})$", flat, re.I)
        if m:
            name = object_name(m.group(2))
            policy = self.model.policies.get(name)
            if policy is None or policy.kind != m.group(1).upper().replace(" ", "_"):
                raise NotFound(f"Policy {name} does not exist or not authorized.")
            signature = "(" + ", ".join(f"{n} {_described(t)}" for n, t in policy.signature) + ")"
            body = "\n    " + policy.body.replace(" THEN ", "\n      THEN ").replace(" ELSE ", "\n    ELSE ")
            return (["name", "signature", "return_type", "body"], [(name, signature, _described(policy.returns), body)])
        m = re.match(rf"SELECT \* FROM TABLE\(({IDENT})\.INFORMATION_SCHEMA\.POLICY_REFERENCES\(REF_ENTITY_NAME => "
                     rf"({STRING}), REF_ENTITY_DOMAIN => '(\w+)'\)\)$", flat, re.I)
        if m:
            return self._policy_references(string_value(m.group(2)), m.group(3).upper())
        m = re.match(rf"SELECT \* FROM TABLE\(({IDENT})\.INFORMATION_SCHEMA\.TAG_REFERENCES_ALL_COLUMNS\(({STRING}), "
                     r"'table'\)\)$", flat, re.I)
        if m:
            return self._tag_references(string_value(m.group(2)))
        m = re.match(rf"SHOW TAGS(?: IN SCHEMA ({QNAME}))?$", flat, re.I)
        if m:
            database, schema = self._scope(m.group(1))
            rows = [(t.name, database, schema, "POLICYENGINE_ADMIN", t.comment,
                     None if t.allowed_values is None else json.dumps(list(t.allowed_values), separators=(",", ":")))
                    for _, t in sorted(self.model.tags.items())]
            return (["name", "database_name", "schema_name", "owner", "comment", "allowed_values"], rows)
        m = re.match(rf"SHOW USER FUNCTIONS(?: IN SCHEMA ({QNAME}))?$", flat, re.I)
        if m:
            database, schema = self._scope(m.group(1))
            rows = [(f.name, schema, database, f"{f.name}({', '.join(f.arguments)}) RETURN {f.returns}",
                     f.comment or "user-defined function", "PYTHON")
                    for _, f in sorted(self.model.functions.items())]
            return (["name", "schema_name", "catalog_name", "arguments", "description", "language"], rows)
        m = re.match(rf"SELECT (.+?) FROM ({IDENT})\.INFORMATION_SCHEMA\.COLUMNS WHERE TABLE_SCHEMA = ({STRING})"
                     rf"(?: AND TABLE_NAME = ({STRING}))?$", flat, re.I)
        if m:
            return self._columns(m)
        m = re.match(rf"LIST @({QNAME})$", flat, re.I)
        if m:
            stage = object_name(m.group(1))
            if stage not in self.model.stages:
                raise NotFound(f"Stage {stage} does not exist or not authorized.")
            rows = [(f"{stage.lower()}/{name}", len(content.encode()), hashlib.md5(content.encode()).hexdigest(),
                     "Mon, 7 Dec 2026 00:00:00 GMT") for name, content in sorted(self.model.stages[stage].items())]
            return (["name", "size", "md5", "last_modified"], rows)
        return None

    def _policy_references(self, entity: str, domain: str) -> Rows:
        names = ["policy_db", "policy_schema", "policy_name", "policy_kind", "ref_database_name", "ref_schema_name",
                 "ref_entity_name", "ref_entity_domain", "ref_column_name", "ref_arg_column_names", "tag_database",
                 "tag_schema", "tag_name", "policy_status"]
        rows: list[tuple[Any, ...]] = []
        database, schema = self.database, self.schema
        if domain == "TAG":
            tag = object_name(entity)
            for _, policy in sorted(self.model.tag_policies.get(tag, {}).items()):
                rows.append((database, schema, policy, "MASKING_POLICY", database, schema, tag, "TAG", None, None,
                             None, None, None, "ACTIVE"))
            return (names, rows)
        table = table_key(entity)
        if table not in self.model.columns:
            raise NotFound(f"Table {entity} does not exist or not authorized.")
        bare = object_name(entity)
        for a in self.model.attachments:
            if a.table != table:
                continue
            arguments = _list(a.arguments) if a.arguments else None
            rows.append((database, schema, a.policy, a.kind, database, schema, bare, "TABLE", a.column, arguments,
                         None, None, None, "ACTIVE"))
        for column in self.model.columns[table]:
            if self.model.attachment("MASKING_POLICY", table, column) is not None:
                continue
            for tag, policy in self.model._tag_masking(table, column):
                rows.append((database, schema, policy, "MASKING_POLICY", database, schema, bare, "TABLE", column,
                             None, database, schema, tag, "ACTIVE"))
        return (names, rows)

    def _tag_references(self, entity: str) -> Rows:
        table = table_key(entity)
        if table not in self.model.columns:
            raise NotFound(f"Table {entity} does not exist or not authorized.")
        rows = [(self.database, self.schema, tag, value, "COLUMN", self.database, self.schema, object_name(entity),
                 "COLUMN", column)
                for (t, column, tag), value in sorted(self.model.tag_values.items()) if t == table]
        return (["tag_database", "tag_schema", "tag_name", "tag_value", "level", "object_database", "object_schema",
                 "object_name", "domain", "column_name"], rows)

    def _columns(self, m: re.Match) -> Rows:
        database, schema = column_name(m.group(2)), string_value(m.group(3))
        only = string_value(m.group(4)) if m.group(4) else None
        wanted = [c.strip().upper() for c in split_top(m.group(1))]
        rows = []
        for table, columns in sorted(self.model.columns.items()):
            parts = [column_name(p) for p in re.findall(IDENT, table)]
            if len(parts) < 3 or parts[-3].upper() != database.upper() or parts[-2].upper() != schema.upper():
                continue
            if only is not None and parts[-1].upper() != only.upper():
                continue
            for column, kind in columns.items():
                number = re.match(r"NUMBER\((\d+),(\d+)\)", kind)
                values = {"TABLE_CATALOG": parts[-3], "TABLE_SCHEMA": parts[-2], "TABLE_NAME": parts[-1],
                          "COLUMN_NAME": column, "DATA_TYPE": "NUMBER" if number else kind,
                          "NUMERIC_PRECISION": int(number.group(1)) if number else None,
                          "NUMERIC_SCALE": int(number.group(2)) if number else None}
                if any(w not in values for w in wanted):
                    raise NotUnderstood(f"the fake does not answer INFORMATION_SCHEMA.COLUMNS columns {wanted}")
                rows.append(tuple(values[w] for w in wanted))
        return (wanted, rows)


def _described(kind: str) -> str:
    """A type as DESCRIBE shows it: VARCHAR with its maximum length."""
    return re.sub(r"^(VARCHAR|STRING|TEXT)$", "VARCHAR(16777216)", kind)


def _list(names: tuple[str, ...]) -> str:
    """A list of column names as POLICY_REFERENCES shows it: ``[ "A", "B" ]``."""
    return "[ " + ", ".join(f'"{n}"' for n in names) + " ]"


class FakeCursor:
    def __init__(self, connection: FakeSnowflake):
        self.connection = connection
        self.description: list[tuple[str, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str) -> FakeCursor:
        names, rows = self.connection.run(sql)
        self.description = [(n,) for n in names]
        self._rows = list(rows)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)
