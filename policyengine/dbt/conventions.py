"""The dbt ``meta`` convention: which column meta becomes which sensitivity and protection.

dbt has no built-in notion of sensitivity; teams write it in column ``meta``, and the packages that
mask in Snowflake read it from there. What is read (keys matched with case, ``_`` and ``-`` ignored,
as the policy loader matches keys; ``meta`` and dbt 1.10's ``config.meta`` both count):

==========================  ==================================================================
``masking_policy: NAME``    dbt_snow_mask's key: the column is protected by the masking policy
                            NAME. Its meaning lives in a Snowflake macro policyengine cannot
                            read, so NAME is mapped to a protection: by
                            ``vars: {policyengine: {masking_policies: {NAME: <protection>}}}`` in
                            ``dbt_project.yml``, else by its name when it is a protection kind
                            with an optional ``mp_`` prefix (``mp_email`` -> ``email``), else by
                            ``--unknown-masking-policy KIND``; otherwise it is a located error.
``sensitivity: LEVEL``      one of the policy set's levels (``restricted``, ``Regular``, ...)
``protection: P``           a protection as contracts write it (``email``, ``{kind: partial,
                            show_last: 4}``)
``pii: true``               also ``contains_pii: true`` or the column tag ``pii``: personal data
``originating_source: S``   lineage, ``system:table.column`` (the contracts' ``originatingSource``)
``policyengine: {...}``     the same ``sensitivity``, ``protection``, ``originating_source`` in a
                            namespace of their own (an unknown key here is an error: a typo must
                            not drop a protection)
==========================  ==================================================================

A column that names a protection (directly or by masking policy) or is marked personal data, but no
level, gets the *PII level*: ``vars: {policyengine: {pii_sensitivity: LEVEL}}``, by default the set's
highest level, so only roles cleared for everything read it raw (dbt_snow_mask's policies unmask for
a short list of roles). Nothing invents a protection: personal data with none is left to the policy
loader, which refuses it where some role would read it raw without clearance. Other meta keys
belong to other tools and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from policyengine.dbt.locate import Found, Origin, describe, format_path
from policyengine.dbt.relations import DbtColumn
from policyengine.model.base import normalize_key
from policyengine.model.files import ColumnSpec
from policyengine.model.policyset import Settings
from policyengine.model.problems import Problems
from policyengine.model.protections import normalize_protection
from policyengine.model.pydantic_errors import report_validation_error
from policyengine.protections import KINDS as PROTECTION_KINDS

#: meta keys read at the top of a column's meta, by normalized spelling
TOP_KEYS = {
    "maskingpolicy": "masking_policy",
    "sensitivity": "sensitivity",
    "protection": "protection",
    "pii": "pii",
    "containspii": "pii",
    "originatingsource": "originating_source",
    "policyengine": "policyengine",
}
#: keys of the ``policyengine:`` namespace
NAMESPACE_KEYS = {"sensitivity": "sensitivity", "protection": "protection", "originatingsource": "originating_source"}

#: kinds a masking policy may be named after (``mp_email``): those that need no parameter (``custom``
#: needs an expression, ``round`` its digits) but ``none``, which is no masking, so not meant by a
#: policy's name alone
NAMED_KINDS = tuple(name for name, kind in PROTECTION_KINDS.items() if name != "none" and not any(
    field.is_required() for key, field in kind.model.model_fields.items() if key != "kind"))


@dataclass(frozen=True)
class MaskingPolicy:
    protection: Any  # as contracts write it: a kind name or a mapping
    origin: Origin | None  # where it was mapped; None when known by its name


@dataclass
class ImportSettings:
    """``vars: {policyengine: ...}`` of ``dbt_project.yml`` and the command's options."""

    masking_policies: dict[str, MaskingPolicy] = field(default_factory=dict)
    pii_sensitivity: str | None = None
    pii_origin: Origin | None = None
    unknown_masking_policy: str | None = None
    #: names mapped to something that is not a protection: already reported, so the columns that use
    #: them report nothing more (one mistake, one problem)
    invalid_policies: set[str] = field(default_factory=set)


@dataclass
class Labels:
    """What a column's meta says, as contract fields, and where each was written."""

    sensitivity: str | None = None
    protection: Any = None
    originating_source: str | None = None
    masking_policy: str | None = None
    #: contract field -> where in the dbt project it came from (``type``, ``sensitivity``, ...)
    fields: dict[str, Origin] = field(default_factory=dict)


def protection_problems(value: Any) -> list[str]:
    """Why ``value`` is not a protection, in the loader's words (type fit is checked by the loader)."""
    problems = Problems("protection")
    try:
        ColumnSpec.model_validate({"name": "x", "type": "STRING", "protection": value})
    except ValidationError as error:
        report_validation_error(error, problems, ColumnSpec)
    out = []
    for problem in problems.found:
        rest = problem.path.removeprefix("protection").lstrip(".")
        out.append(f"{rest}: {problem.message}" if rest else problem.message)
    return out


def written_protection(value: Any) -> Any:
    """A protection as the contract will say it: the bare kind when it has no parameters."""
    normal = normalize_protection(value)
    if isinstance(normal, dict):
        kind = normal.get("kind")
        rest = {k: v for k, v in normal.items() if k != "kind"}
        return kind if not rest else {"kind": kind, **rest}
    return normal


def read_settings(variables: Any, origin: Origin, levels: Settings, found: Found,
                  unknown_masking_policy: str | None) -> ImportSettings:
    """``vars: {policyengine: {masking_policies: {...}, pii_sensitivity: LEVEL}}``, checked."""
    settings = ImportSettings(unknown_masking_policy=unknown_masking_policy)
    if variables is None:
        return settings
    if not isinstance(variables, dict):
        found.add(origin, "expected a mapping: {masking_policies: {NAME: protection}, pii_sensitivity: LEVEL}")
        return settings
    for key, value in variables.items():
        at = origin.at(str(key))
        name = normalize_key(key)
        if name == "maskingpolicies":
            if not isinstance(value, dict):
                found.add(at, "expected a mapping of masking policy name to protection ({mp_email: email})")
                continue
            for policy, protection in value.items():
                where = at.at(str(policy))
                problems = protection_problems(protection)
                for problem in problems:
                    found.add(where, problem)
                if problems:
                    settings.invalid_policies.add(str(policy).strip().lower())
                else:
                    settings.masking_policies[str(policy).strip().lower()] = MaskingPolicy(
                        written_protection(protection), where)
        elif name == "piisensitivity":
            level = _level(value, levels, at, found)
            if level is not None:
                settings.pii_sensitivity, settings.pii_origin = level, at
        else:
            found.add(at, f"unknown key '{key}' (known: masking_policies, pii_sensitivity)")
    return settings


def _level(value: Any, levels: Settings, at: Origin, found: Found) -> str | None:
    if not isinstance(value, str) or not value.strip():
        found.add(at, f"expected a sensitivity level, got {describe(value)}")
        return None
    level = value.strip().lower()
    if level not in levels.sensitivity_levels:
        found.add(at, f"unknown level '{value}' (levels: {', '.join(levels.sensitivity_levels)})")
        return None
    return level


def masking_policy_protection(name: str, settings: ImportSettings) -> MaskingPolicy | None:
    """The protection a dbt_snow_mask policy name stands for, or None when nobody said."""
    key = name.strip().lower()
    if key in settings.masking_policies:
        return settings.masking_policies[key]
    bare = key.removeprefix("mp_")
    if bare in NAMED_KINDS:
        return MaskingPolicy(bare, None)
    if settings.unknown_masking_policy is not None:
        return MaskingPolicy(settings.unknown_masking_policy, None)
    return None


def column_labels(column: DbtColumn, levels: Settings, settings: ImportSettings, found: Found) -> Labels:
    """Read the convention off one column's meta and tags; problems are reported at the meta key."""
    given: dict[str, tuple[Any, Origin]] = {}

    def take(field_name: str, value: Any, at: Origin) -> None:
        if field_name in given:
            found.add(at, f"{field_name} is given twice (also at {_path_text(given[field_name][1])})")
            return
        given[field_name] = (value, at)

    for key, value in column.meta.items():
        name = TOP_KEYS.get(normalize_key(key))
        at = column.meta_at[key]
        if name is None:
            continue
        if name != "policyengine":
            take(name, value, at)
            continue
        if not isinstance(value, dict):
            found.add(at, "expected a mapping: {sensitivity: LEVEL, protection: P, originating_source: S}")
            continue
        for inner, item in value.items():
            inner_name = NAMESPACE_KEYS.get(normalize_key(inner))
            if inner_name is None:
                found.add(at.at(str(inner)),
                          f"unknown key '{inner}' (known: sensitivity, protection, originating_source)")
            else:
                take(inner_name, item, at.at(str(inner)))

    labels = Labels()
    if column.data_type is not None:
        labels.fields["type"] = column.origin.at("data_type")

    pii = False
    if "pii" in given:
        value, at = given["pii"]
        if isinstance(value, bool):
            pii = value
        else:
            found.add(at, f"expected true or false, got {describe(value)}")
    if any(normalize_key(tag) == "pii" for tag in column.tags):
        pii = True

    if "masking_policy" in given and "protection" in given:
        found.add(given["protection"][1], "give either protection or masking_policy, not both "
                                          f"(masking_policy at {_path_text(given['masking_policy'][1])})")
    elif "masking_policy" in given:
        value, at = given["masking_policy"]
        if not isinstance(value, str) or not value.strip():
            found.add(at, f"expected the name of a masking policy, got {describe(value)}")
        elif value.strip().lower() in settings.invalid_policies:
            pass  # its mapping is wrong, and reported where it is written
        else:
            mapped = masking_policy_protection(value, settings)
            if mapped is None:
                found.add(at, f"unknown masking policy '{value}': say what it does in dbt_project.yml, "
                              f"vars: {{policyengine: {{masking_policies: {{{value}: <protection>}}}}}}, "
                              "or import with --unknown-masking-policy KIND")
            else:
                labels.protection, labels.masking_policy = mapped.protection, value.strip()
                labels.fields["protection"] = at
    elif "protection" in given:
        value, at = given["protection"]
        problems = protection_problems(value)
        for problem in problems:
            found.add(at, problem)
        if not problems:
            labels.protection = written_protection(value)
            labels.fields["protection"] = at

    if "sensitivity" in given:
        value, at = given["sensitivity"]
        labels.sensitivity = _level(value, levels, at, found)
        labels.fields["sensitivity"] = at
    elif pii or (labels.protection is not None and labels.protection != "none"):
        labels.sensitivity = settings.pii_sensitivity or levels.sensitivity_levels[-1]
        labels.fields["sensitivity"] = (given["pii"][1] if "pii" in given else
                                        labels.fields.get("protection") or column.origin.at("tags"))

    if "originating_source" in given:
        value, at = given["originating_source"]
        if isinstance(value, str) and value.strip():
            labels.originating_source = value.strip()
            labels.fields["originatingSource"] = at
        else:
            found.add(at, f"expected lineage as 'system:table.column', got {describe(value)}")
    return labels


def _path_text(origin: Origin) -> str:
    return format_path(origin.path)
