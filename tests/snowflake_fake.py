"""A recording stand-in for a Snowflake connection, for the apply path only.

No Snowflake account can be reached here, so this fake keeps a schema's governance state (policies
with bodies, where they are attached, tags, functions) and answers SHOW / DESCRIBE /
POLICY_REFERENCES / TAG_REFERENCES_ALL_COLUMNS the way Snowflake documents them, enforcing the rules
apply relies on: an attached policy cannot be dropped or replaced by CREATE OR REPLACE, a column
takes a second policy only with FORCE, a table has one row access policy. DESCRIBE returns bodies
and signatures reformatted as Snowflake does (upper-case types, VARCHAR(16777216), other spacing),
so the planner's normalization is exercised. It implements only what the engine sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class FakeSnowflakeError(Exception):
    pass


def _name(text: str) -> str:
    return text.strip().split(".")[-1].strip('"').upper()


def _table(text: str) -> str:
    return text.strip().lower()


@dataclass
class FakeSnowflake:
    policies: dict[str, dict[str, str]] = field(default_factory=dict)  # NAME -> kind, signature, body
    references: list[dict[str, Any]] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    tag_values: dict[tuple[str, str, str], str] = field(default_factory=dict)
    tag_policies: dict[str, set[str]] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    executed: list[str] = field(default_factory=list)

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def referenced(self, name: str) -> bool:
        return any(r["policy_name"] == name for r in self.references) or any(
            name in names for names in self.tag_policies.values())

    # --- statements ------------------------------------------------------------------------------

    def run(self, sql: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
        text = sql.strip()
        self.executed.append(text)
        flat = " ".join(text.split())
        m = re.match(r"CREATE OR REPLACE SECURE FUNCTION (\S+?)\(", flat)
        if m:
            self.functions.add(_name(m.group(1)))
            return []
        m = re.match(r"CREATE TAG IF NOT EXISTS (\S+)", flat)
        if m:
            self.tags.add(_name(m.group(1)))
            return []
        m = re.match(r"CREATE OR REPLACE (MASKING|PROJECTION|ROW ACCESS) POLICY (\S+) "
                     r"AS \(((?:[^()]|\([^()]*\))*)\) RETURNS (\S+) ->\s*(.*?)"
                     r"(?:\s+COMMENT = '(?:[^']|'')*')?(?:\s+EXEMPT_OTHER_POLICIES = TRUE)?$", flat)
        if m:
            kind, name = m.group(1).replace(" ", "_"), _name(m.group(2))
            if name in self.policies and self.referenced(name):
                raise FakeSnowflakeError(f"Policy {name} is attached and cannot be replaced")
            self.policies[name] = {"kind": kind, "signature": m.group(3), "returns": m.group(4), "body": m.group(5)}
            return []
        m = re.match(r"ALTER (MASKING|PROJECTION|ROW ACCESS) POLICY (\S+) SET BODY -> (.*)$", flat)
        if m:
            name = _name(m.group(2))
            if name not in self.policies:
                raise FakeSnowflakeError(f"Policy {name} does not exist")
            self.policies[name]["body"] = m.group(3)
            return []
        m = re.match(r"ALTER TABLE (\S+) MODIFY COLUMN (\S+) SET (MASKING|PROJECTION) POLICY (\S+)"
                     r"(?: USING \((.*?)\))?( FORCE)?$", flat)
        if m:
            table, column = _table(m.group(1)), _name(m.group(2))
            kind, policy = m.group(3) + "_POLICY", _name(m.group(4))
            if policy not in self.policies:
                raise FakeSnowflakeError(f"Policy {policy} does not exist")
            current = [r for r in self.references if (r["ref_entity_name"], r["ref_column_name"], r["policy_kind"]) ==
                       (table, column, kind)]
            if current and not m.group(6):
                raise FakeSnowflakeError(f"Column {column} already has a {kind}; use FORCE")
            for r in current:
                self.references.remove(r)
            arguments = [_name(a) for a in (m.group(5) or "").split(",") if a.strip()]
            self.references.append({"policy_name": policy, "policy_kind": kind, "ref_entity_name": table,
                                    "ref_column_name": column,
                                    "ref_arg_column_names": str(arguments[1:]) if arguments else None})
            return []
        m = re.match(r"ALTER TABLE (\S+) MODIFY COLUMN (\S+) UNSET (MASKING|PROJECTION) POLICY$", flat)
        if m:
            table, column, kind = _table(m.group(1)), _name(m.group(2)), m.group(3) + "_POLICY"
            self.references = [r for r in self.references if (r["ref_entity_name"], r["ref_column_name"],
                                                              r["policy_kind"]) != (table, column, kind)]
            return []
        m = re.match(r"ALTER TABLE (\S+) (?:DROP ROW ACCESS POLICY (\S+), )?ADD ROW ACCESS POLICY (\S+) ON \((.*)\)$",
                     flat)
        if m:
            table = _table(m.group(1))
            current = [r for r in self.references
                       if r["ref_entity_name"] == table and r["policy_kind"] == "ROW_ACCESS_POLICY"]
            if m.group(2):
                dropped = _name(m.group(2))
                if not current or current[0]["policy_name"] != dropped:
                    raise FakeSnowflakeError(f"{dropped} is not the row access policy of {table}")
                self.references.remove(current[0])
            elif current:
                raise FakeSnowflakeError(f"{table} already has a row access policy")
            self.references.append({"policy_name": _name(m.group(3)), "policy_kind": "ROW_ACCESS_POLICY",
                                    "ref_entity_name": table, "ref_column_name": None,
                                    "ref_arg_column_names": str([_name(a) for a in m.group(4).split(",")])})
            return []
        m = re.match(r"ALTER TABLE (\S+) MODIFY COLUMN (\S+) SET TAG (\S+) = '(.*)'$", flat)
        if m:
            self.tag_values[(_table(m.group(1)), _name(m.group(2)), _name(m.group(3)))] = m.group(4).replace("''", "'")
            return []
        m = re.match(r"ALTER TAG (\S+) SET (.*)$", flat)
        if m:
            names = {_name(p) for p in re.findall(r"MASKING POLICY (\S+?)(?:,|$)", m.group(2))}
            self.tag_policies.setdefault(_name(m.group(1)), set()).update(names)
            return []
        m = re.match(r"DROP (MASKING|PROJECTION|ROW ACCESS) POLICY (\S+)$", flat)
        if m:
            name = _name(m.group(2))
            if self.referenced(name):
                raise FakeSnowflakeError(f"Policy {name} is attached and cannot be dropped")
            self.policies.pop(name, None)
            return []
        return self._query(flat)

    # --- queries ---------------------------------------------------------------------------------

    def _query(self, flat: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
        m = re.match(r"SHOW (MASKING|PROJECTION|ROW ACCESS) POLICIES", flat)
        if m:
            kind = m.group(1).replace(" ", "_")
            return [("name", [(n,) for n, p in sorted(self.policies.items()) if p["kind"] == kind])]
        m = re.match(r"DESCRIBE (MASKING|PROJECTION|ROW ACCESS) POLICY (\S+)$", flat)
        if m:
            policy = self.policies[_name(m.group(2))]
            arguments = re.split(r",\s*(?![^()]*\))", policy["signature"])
            signature = "(" + ", ".join(_snowflake_argument(a) for a in arguments if a.strip()) + ")"
            body = "\n    " + policy["body"].replace(" THEN ", "\n      THEN ").replace(" ELSE ", "\n    ELSE ")
            return [("name|signature|return_type|body", [(m.group(2), signature, policy["returns"], body)])]
        m = re.match(r"SELECT \* FROM TABLE\((\S+)\.POLICY_REFERENCES\(REF_ENTITY_NAME => '(.*?)', "
                     r"REF_ENTITY_DOMAIN => '(\w+)'\)\)$", flat)
        if m:
            entity, domain = m.group(2), m.group(3)
            if domain == "tag":
                return [("policy_name|policy_kind", [(p, "MASKING_POLICY") for p in
                                                     sorted(self.tag_policies.get(_name(entity), set()))])]
            rows = [(r["policy_name"], r["policy_kind"], r["ref_column_name"], r["ref_arg_column_names"])
                    for r in self.references if r["ref_entity_name"] == _table(entity)]
            return [("policy_name|policy_kind|ref_column_name|ref_arg_column_names", rows)]
        m = re.match(r"SELECT \* FROM TABLE\((\S+)\.TAG_REFERENCES_ALL_COLUMNS\('(.*?)', 'table'\)\)$", flat)
        if m:
            table = _table(m.group(2))
            rows = [(column, tag, value) for (t, column, tag), value in sorted(self.tag_values.items()) if t == table]
            return [("column_name|tag_name|tag_value", rows)]
        if re.match(r"SHOW TAGS", flat):
            return [("name", [(t,) for t in sorted(self.tags)])]
        if re.match(r"SHOW USER FUNCTIONS", flat):
            return [("name", [(f,) for f in sorted(self.functions)])]
        raise FakeSnowflakeError(f"the fake does not understand: {flat[:120]}")


def _snowflake_argument(argument: str) -> str:
    name, kind = argument.strip().split(" ", 1)
    kind = kind.upper().replace("VARCHAR", "VARCHAR(16777216)")
    return f"{name.upper()} {kind}"


class FakeCursor:
    def __init__(self, connection: FakeSnowflake):
        self.connection = connection
        self.description: list[tuple[str, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str) -> FakeCursor:
        result = self.connection.run(sql)
        if result:
            names, rows = result[0]
            self.description = [(n,) for n in names.split("|")]
            self._rows = rows
        else:
            self.description, self._rows = [("status",)], [("ok",)]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)
