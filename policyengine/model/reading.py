"""Reading YAML and JSON policy files strictly.

Two traps of the usual readers are closed here, because both silently change what a policy says:
a key given twice (PyYAML and ``json`` both keep the last one, so ``clearance: none`` followed by
``clearance: restricted`` would grant), and YAML 1.1's implicit booleans (``region: NO`` would be
``False``, not Norway). Only ``true``/``false`` are booleans here, as in YAML 1.2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml


class ReadError(ValueError):
    """A file that cannot be read as YAML or JSON; the message carries line and column."""


class _StrictLoader(yaml.SafeLoader):
    pass


# Drop YAML 1.1's yes/no/on/off booleans: keep only true/false.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise ReadError(
                f"line {mark.line + 1}, column {mark.column + 1}: key '{key}' is given twice in one mapping "
                f"(first on line {seen[key].start_mark.line + 1})"
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ReadError(f"key '{key}' is given twice in one object")
        out[key] = value
    return out


def parse_text(text: str, *, json_file: bool) -> Any:
    """Parse a policy file's text; raises :class:`ReadError` with a located message."""
    if json_file:
        try:
            return json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
        except json.JSONDecodeError as error:
            raise ReadError(f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ReadError(f"{where}invalid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ReadError(f"invalid YAML: {error}") from None
    if len(documents) > 1:
        raise ReadError(f"holds {len(documents)} YAML documents; a policy file holds one")
    return documents[0] if documents else None


def read_file(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReadError(f"cannot be read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReadError(f"is not UTF-8 text (byte {error.start})") from None
    return parse_text(text, json_file=path.suffix.lower() == ".json")
