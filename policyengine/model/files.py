"""The shapes of the three kinds of policy file, as pydantic models (spec sections 2-4, 6).

These models check each file on its own: keys, value types, required fields. What needs more than
one file (a role named in a contract, a level named in a role) is checked afterwards by
:mod:`policyengine.model.checks`, which sees the whole set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from policyengine.model.base import PolicyModel, describe_value
from policyengine.model.protections import NoProtection, Protection, normalize_protection

Name = Annotated[StrictStr, Field(min_length=1)]


def _one_or_many(value: Any) -> Any:
    """``inherits: reader`` means ``inherits: [reader]``."""
    return [value] if isinstance(value, str) else value


def _lowered(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, list):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


DEFAULT_LEVELS = ["public", "regular", "internal", "confidential", "restricted"]
DEFAULT_ENVIRONMENTS = ["dev", "staging", "prod"]


class SettingsFile(PolicyModel):
    sensitivity_levels: Annotated[list[Name], Field(min_length=1)] = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    environments: Annotated[list[Name], Field(min_length=1)] = Field(default_factory=lambda: list(DEFAULT_ENVIRONMENTS))
    default_environment: Name | None = None
    unknown_table: Literal["deny", "allow"] = "deny"
    default_sensitivity: Name | None = None
    #: scan results for personal data in columns labelled at the lowest level (docs/dlp.md)
    egress_check: Literal["off", "log", "mask"] = "off"

    _normalize = field_validator(
        "sensitivity_levels", "environments", "default_environment", "unknown_table", "default_sensitivity",
        "egress_check", mode="before",
    )(_lowered)


class RoleSpec(PolicyModel):
    description: StrictStr | None = None
    inherits: list[Name] = Field(default_factory=list)
    #: one level for every environment, or one per environment; absent means the role holds
    #: nothing of its own (only what it inherits)
    clearance: Any = None
    unmask: list[Name] = Field(default_factory=list)

    _many = field_validator("inherits", "unmask", mode="before")(_one_or_many)

    @field_validator("clearance", mode="before")
    @classmethod
    def _clearance(cls, value: Any) -> str | dict[str, str] | None:
        if value is None:
            return None
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
        if isinstance(value, dict):
            out: dict[str, str] = {}
            written: dict[str, str] = {}
            for env, level in value.items():
                if not isinstance(level, str) or not level.strip():
                    raise PydanticCustomError(
                        "clearance", "clearance for environment '{env}' must be a level name, got {got}",
                        {"env": str(env), "got": describe_value(level)},
                    )
                key = str(env).strip().lower()
                if key in out:  # 'Prod' and 'prod' are one environment: never let the last one win
                    raise PydanticCustomError(
                        "duplicate_key", "environment '{env}' is given twice (as '{first}' and '{second}')",
                        {"env": key, "first": written[key], "second": str(env)},
                    )
                out[key] = level.strip().lower()
                written[key] = str(env)
            return out
        raise PydanticCustomError(
            "clearance", "clearance must be a level name or a mapping of environment to level, got {got}",
            {"got": describe_value(value)},
        )


class PrincipalSpec(PolicyModel):
    roles: Annotated[list[Name], Field(min_length=1)]
    attributes: dict[Name, Any] = Field(default_factory=dict)

    _many = field_validator("roles", mode="before")(_one_or_many)

    @field_validator("attributes")
    @classmethod
    def _scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if item is not None and not isinstance(item, (str, bool, int, float)):
                raise PydanticCustomError(
                    "attribute", "attribute '{key}' must be text, a number or true/false, got {got}",
                    {"key": key, "got": describe_value(item)},
                )
        return value


class RolesFile(PolicyModel):
    roles: dict[Name, RoleSpec] = Field(default_factory=dict)
    principals: dict[Name, PrincipalSpec] = Field(default_factory=dict)

    @field_validator("roles", "principals", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return {} if value is None else value


class ColumnSpec(PolicyModel):
    name: Name
    type: Name
    description: StrictStr | None = None
    mode: Literal["required", "nullable", "repeated"] = "nullable"
    originating_source: StrictStr | None = Field(default=None, alias="originatingSource")
    sensitivity: Name | None = None
    protection: Protection = Field(default_factory=NoProtection)
    primary_key: StrictBool = False
    meta: dict[str, Any] = Field(default_factory=dict)

    _lower = field_validator("mode", "sensitivity", mode="before")(_lowered)
    _protection = field_validator("protection", mode="before")(normalize_protection)


class RowAccessRule(PolicyModel):
    roles: Annotated[list[Name], Field(min_length=1)]
    where: Annotated[StrictStr, Field(min_length=1)]

    _many = field_validator("roles", mode="before")(_one_or_many)


class Derivation(PolicyModel):
    """How a derived table is made: the SQL (``CREATE TABLE ... AS SELECT``, ``CREATE VIEW ... AS``, or a
    dbt model's compiled ``SELECT``) that ``policyengine derive`` wrote the contract from. Validation
    recomputes the table's column lineage from it, so a column declared less sensitive than what it
    is computed from is reported (``docs/lineage.md``)."""

    sql: Annotated[StrictStr, Field(min_length=1)]
    #: the SQL dialect, by sqlglot's name
    dialect: Name = "duckdb"
    #: names the current database answers to in the SQL's three-part names (dbt's database)
    catalogs: list[Name] = Field(default_factory=list)


class ContractHeader(PolicyModel):
    """A contract's own keys, without its columns and row access rules.

    Used on its own to recover what is valid of a contract that failed as a whole, so that one bad
    column does not hide the contract's name and everything that refers to it.
    """

    table: Name | None = None
    description: StrictStr | None = None
    registration_time: Any = Field(default=None, alias="registrationTime")
    registered_by: StrictStr | None = Field(default=None, alias="registeredBy")
    version: Any = None
    meta: dict[str, Any] = Field(default_factory=dict)
    #: a derived table's SQL (an addition to the seed's format; see :class:`Derivation`)
    derivation: Derivation | None = None

    @field_validator("registration_time", "version")
    @classmethod
    def _text_or_number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise PydanticCustomError("text_or_number", "expected text or a whole number, got {got}",
                                      {"got": describe_value(value)})
        return value


class ContractSpec(ContractHeader):
    """The seed's registration document, plus ``table`` and ``row_access``."""

    columns: Annotated[list[ColumnSpec], Field(min_length=1)]
    row_access: list[RowAccessRule] = Field(default_factory=list)
