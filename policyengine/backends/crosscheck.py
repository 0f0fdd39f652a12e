"""A second opinion from DuckDB's own parser on the final SQL, before it runs.

sqlglot and DuckDB might read the same text differently; if they do, the rewrite could miss a
table. So the final text is parsed again with ``json_serialize_sql`` and every table it reads
must be one of this rewrite's wrappers (by its nonce alias, exactly once) or renamed CTEs; every
table function must only generate values; every function must be a DuckDB built-in that users
may call, unqualified; ``getvariable`` may only read the engine's key variables.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from policyengine.crypto import PURPOSES
from policyengine.rewrite import Refused, Rewritten
from policyengine.rewrite.functions import ALLOWED_TABLE_FUNCTIONS, is_denied
from policyengine.rewrite.keyed import variable_name

KEY_VARIABLES = frozenset(variable_name(p, pad) for p in PURPOSES for pad in ("i", "o"))


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _constant_argument(function: dict[str, Any]) -> str | None:
    """The text of a function's single constant string argument, or None."""
    arguments = function.get("arguments") or []
    if len(arguments) != 1:
        return None
    expression = arguments[0].get("expression") or {}
    literal = expression.get("literal") or {}
    if expression.get("class") != "CONSTANT" or literal.get("kind") != "STRING":
        return None
    return literal.get("text")


def check(serialized: str, rewritten: Rewritten, builtins: frozenset[str]) -> None:
    try:
        document = json.loads(serialized)
    except ValueError:
        raise Refused("DuckDB's parser could not check the rewritten query", kind="unsupported") from None
    if document.get("error"):
        raise Refused("DuckDB's parser rejects the rewritten query", kind="unsupported")
    statements = document.get("statements") or []
    if len(statements) != 1:
        raise Refused("DuckDB's parser sees more than one statement", kind="unsupported")
    # each wrapper of the rewrite accounts for exactly one read of its table under its alias
    expected = Counter((alias, key.rsplit(".", 1)[-1].lower()) for alias, key in rewritten.reads)
    cte = re.compile(rf"__pe_{rewritten.nonce}_cte\d+")
    for node in _nodes(statements[0]):
        kind, cls = node.get("type"), node.get("class")
        if kind == "BASE_TABLE":
            name, alias = node.get("table_name", ""), node.get("alias", "")
            if cte.fullmatch(name) and not node.get("schema_name") and not node.get("catalog_name"):
                continue
            if expected[(alias, name.lower())] <= 0:
                raise Refused("DuckDB's parser sees a table read the rewrite did not protect", kind="unsupported")
            expected[(alias, name.lower())] -= 1
        elif kind == "TABLE_FUNCTION":
            function = node.get("function", {})
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise Refused(f"table function {name}() is not allowed", kind="unsupported")
        elif kind == "SHOW_REF":
            raise Refused("SHOW/SUMMARIZE is not allowed", kind="unsupported")
        if cls == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if node.get("schema") or node.get("catalog"):
                raise Refused(f"qualified function call {name}() is not allowed")
            if name == "getvariable":
                if _constant_argument(node) not in KEY_VARIABLES:
                    raise Refused("function getvariable() is not allowed")
                continue
            if is_denied(name) or name not in builtins:
                raise Refused(f"function {name}() is not allowed")
    if any(remaining != 0 for remaining in expected.values()):
        raise Refused("DuckDB's parser does not see every protected read", kind="unsupported")
