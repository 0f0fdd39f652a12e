"""pydantic's errors, said the way a policy author reads them, at the path they point to."""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ValidationError

from policyengine.model.base import PolicyModel, describe_value, normalize_key
from policyengine.model.problems import Path, Problems
from policyengine.model.protections import KINDS

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _clean_loc(loc: tuple[Any, ...]) -> Path:
    """Drop the discriminator tags pydantic puts in after a union field (``protection.partial.x``)."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        if index > 0 and loc[index - 1] == "protection" and part in KINDS:
            continue
        out.append(part)
    return tuple(out)


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``; ``X | None`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _step(annotation: Any, part: str | int) -> Any:
    """The type found one step further along an error location, or None when it cannot be told."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, PolicyModel):
        if not isinstance(part, str):
            return None
        spelled = annotation.canonical_keys().get(normalize_key(part))
        field = next((info for name, info in annotation.model_fields.items()
                      if spelled in (name, info.alias)), None)
        return field.annotation if field is not None else None
    if origin in (Union, UnionType):  # a protection: pydantic names the member by its kind
        for member in get_args(annotation):
            member = _unwrap(member)
            if (isinstance(member, type) and issubclass(member, PolicyModel) and "kind" in member.model_fields
                    and part in get_args(member.model_fields["kind"].annotation)):
                return member
        return None
    if origin is list and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    return None


def _keys_at(model: type[PolicyModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (pydantic's raw location) may hold, for 'did you mean'.

    Only the keys of the model at that place: a key that is valid elsewhere (``show_last`` is a
    parameter of ``partial``) is no suggestion for another kind's protection.
    """
    annotation: Any = model
    for part in loc:
        if annotation is None:
            return []
        annotation = _step(annotation, part)
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, PolicyModel):
        return sorted({info.alias or name for name, info in annotation.model_fields.items()})
    return []


def _did_you_mean(key: str, candidates: list[str]) -> str | None:
    """The closest candidate, compared the way keys are matched (case, '_' and '-' ignored)."""
    by_form = {normalize_key(c): c for c in candidates}
    wanted = normalize_key(key)
    close = difflib.get_close_matches(wanted, [f for f in by_form if f != wanted], n=1, cutoff=0.75)
    return by_form[close[0]] if close else None


def report_validation_error(error: ValidationError, problems: Problems,
                            model: type[PolicyModel] | None = None) -> None:
    """Report every error of ``error``; ``model`` is the model that was validated, for suggestions."""
    for item in error.errors(include_url=False):
        loc = _clean_loc(item["loc"])
        kind = item["type"]
        given = item.get("input")
        ctx = item.get("ctx") or {}
        if kind == "missing":
            problems.add(loc[:-1], f"missing required key '{loc[-1]}'")
        elif kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key '{key}'"
            close = _did_you_mean(key, _keys_at(model, tuple(item["loc"][:-1])))
            if close:
                message += f" (did you mean '{close}'?)"
            elif key == "<<":
                message += " (YAML merge keys are not supported: write the keys out)"
            problems.add(loc[:-1], message)
        elif kind in _EXPECTED:
            problems.add(loc, f"expected {_EXPECTED[kind]}, got {describe_value(given)}")
        elif kind == "literal_error":
            problems.add(loc, f"{describe_value(given)} is not one of: {ctx.get('expected', '')}".replace(" or ", ", "))
        elif kind == "union_tag_invalid":
            problems.add(loc, f"unknown protection kind {describe_value(ctx.get('tag'))} "
                              f"(expected one of: {', '.join(KINDS)})")
        elif kind == "union_tag_not_found":
            problems.add(loc, "missing required key 'kind'")
        elif kind in ("too_short", "string_too_short"):
            problems.add(loc, "must not be empty" if ctx.get("min_length") == 1 else
                         f"must have at least {ctx.get('min_length')} items")
        elif kind in ("string_too_long", "too_long"):
            problems.add(loc, f"must be at most {ctx.get('max_length')} long, got {describe_value(given)}")
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            words = {"greater_than_equal": "at least", "greater_than": "more than",
                     "less_than_equal": "at most", "less_than": "less than"}[kind]
            bound = next(iter(ctx.values()), "")
            problems.add(loc, f"must be {words} {bound}, got {describe_value(given)}")
        else:
            message = item["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
            problems.add(loc, message[:1].lower() + message[1:])
