"""Drift: what changed in Snowflake outside policyengine since its last apply.

A planned change is the policy set differing from the schema; drift is the schema differing from
what the last apply left (a body edited by hand, a policy detached, a tag value changed). To tell
them apart apply records, as its last statements, a digest of every object it manages in
``PE_APPLIED`` (item, value); a dry run compares the schema with that record. The record holds
digests and names, never a body's text or key material.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from policyengine.ddl import snowflake_statements as sql
from policyengine.ddl.keyed_handler import recorded_fingerprint
from policyengine.ddl.snowflake_apply import Action, normalize_body
from policyengine.ddl.snowflake_model import SnowflakeModel
from policyengine.ddl.snowflake_plan import SnowflakePlan
from policyengine.ddl.snowflake_read import APPLIED_TABLE


@dataclass(frozen=True)
class Drift:
    item: str
    was: str | None  # as the last apply left it
    now: str | None  # as Snowflake has it

    def describe(self) -> str:
        if self.now is None:
            return f"{self.item}: removed outside policyengine"
        if self.was is None:
            return f"{self.item}: added outside policyengine"
        return f"{self.item}: changed outside policyengine"


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def snapshot(state: SnowflakeModel, plan: SnowflakePlan) -> dict[str, str]:
    """Every object policyengine manages in the plan's tables and schema, as item -> digest or name."""
    tables = {plan.table_name(t).lower() for t in plan.tables()}
    items: dict[str, str] = {}
    for name, policy in state.policies.items():
        if name.startswith("PE_"):
            items[f"policy {name}"] = _digest(policy.kind, policy.signature, policy.exempt, normalize_body(policy.body))
    for attachment in state.attachments:
        if attachment.table in tables and attachment.policy.startswith("PE_"):
            where = attachment.table + (f".{attachment.column}" if attachment.column else "")
            items[f"{attachment.kind.lower().replace('_', ' ')} on {where}"] = \
                attachment.policy + (f" ON {','.join(attachment.arguments)}" if attachment.arguments else "")
    for (table, column, tag), value in state.tag_values.items():
        if table in tables and tag.startswith("PE_"):
            items[f"tag {tag} on {table}.{column}"] = value
    for tag, policies in state.tag_policies.items():
        if tag.startswith("PE_"):
            for family, name in policies.items():
                items[f"{family} policy on tag {tag}"] = name
    for name, function in state.functions.items():
        if name in plan.keyed_udfs:
            items[f"function {name}"] = recorded_fingerprint(function.comment) or "no fingerprint"
    return items


def drift(existing: SnowflakeModel, plan: SnowflakePlan) -> list[Drift]:
    """What differs from the last apply's record; nothing when there is no record (never applied)."""
    recorded_rows = existing.rows.get(APPLIED_TABLE)
    if not recorded_rows:
        return []
    recorded = dict(recorded_rows)
    current = snapshot(existing, plan)
    return [Drift(item, recorded.get(item), current.get(item))
            for item in sorted(set(recorded) | set(current)) if recorded.get(item) != current.get(item)]


def record_actions(plan: SnowflakePlan, after: SnowflakeModel) -> list[Action]:
    """The statements that record what the schema holds once the plan has run."""
    table = plan.qualified(APPLIED_TABLE)
    items = sorted(snapshot(after, plan).items())
    values = ",\n  ".join(f"({sql.string(item)}, {sql.string(value)})" for item, value in items)
    out = [Action("=", f"record the applied state in {APPLIED_TABLE}",
                  f"CREATE TABLE IF NOT EXISTS {table} (ITEM VARCHAR, VALUE VARCHAR)"),
           Action("=", f"clear the previous record in {APPLIED_TABLE}", f"DELETE FROM {table}")]
    if items:
        out.append(Action("=", f"record {len(items)} managed objects in {APPLIED_TABLE}",
                          f"INSERT INTO {table} (ITEM, VALUE) VALUES\n  {values}"))
    return out
