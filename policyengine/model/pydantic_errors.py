"""pydantic's errors, said the way a policy author reads them, at the path they point to."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from policyengine.model.base import PolicyModel, describe_value
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


def _vocabulary() -> list[str]:
    """Every key any policy file may hold, for 'did you mean' suggestions."""
    words: set[str] = set()
    stack: list[type[PolicyModel]] = [PolicyModel]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        words.update(info.alias or name for name, info in cls.model_fields.items())
    return sorted(words)


def report_validation_error(error: ValidationError, problems: Problems) -> None:
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
            close = difflib.get_close_matches(key, _vocabulary(), n=1, cutoff=0.75)
            if close:
                message += f" (did you mean '{close[0]}'?)"
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
