"""Reading YAML and JSON policy files strictly.

The usual readers silently change what a policy says in several ways, and each is closed here:

- A key given twice: PyYAML and ``json`` both keep the last one, so ``clearance: none`` followed by
  ``clearance: restricted`` would grant. Here it is a located read error, in YAML and in JSON.
- YAML 1.1's implicit conversions: ``region: NO`` would be ``False`` (not Norway), ``since: 2021-01-01``
  a date object, ``shift: 12:30`` the number 750 (sexagesimal), ``zip: 0123`` the number 83 (octal),
  ``1_000`` the number 1000. Plain scalars are resolved the YAML 1.2 way instead, narrowed to what a
  policy needs: ``true``/``false`` are booleans, ``null``/``~``/nothing is null, plain decimal numbers
  (``42``, ``-7``, ``0.73``, ``1e3``) are numbers, and everything else is text. A number with a
  leading zero (``0123``) is text, because it is an identifier (a postal code, an account number)
  far more often than a number meant in octal or decimal. Dates and times stay text: the model
  reads ISO dates where it needs one (a ``redact`` value for a DATE column).
- YAML 1.1 merge keys (``<<: *defaults``) silently let one value override another; ``<<`` is an
  ordinary (and so unknown) key here.
- Explicit tags build values the model never expects (``!!set``, ``!!binary``, ``!!timestamp``) or
  fail with an exception (``!!int abc``); only the plain tags (``!!str``, ``!!int``, ``!!float``,
  ``!!bool``, ``!!null``, ``!!seq``, ``!!map``) are accepted, and a value they cannot read is a
  located read error.

Whatever goes wrong while reading a file, the caller gets a :class:`ReadError` whose message says
where, never another exception.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from json.decoder import scanstring
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError


class ReadError(ValueError):
    """A file that cannot be read as YAML or JSON; the message carries line and column."""


class _StrictLoader(yaml.SafeLoader):
    """A safe loader with YAML-1.2-like plain scalars, refusing duplicate keys and odd tags."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Turn any failure of a constructor (``!!int abc``, a date that does not exist) into a
        located error, instead of an exception out of the loader."""
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, ReadError):
            raise
        except (ValueError, TypeError, OverflowError) as error:
            raise ConstructorError(None, None, f"cannot read {node.tag.rsplit(':', 1)[-1]} value "
                                               f"'{getattr(node, 'value', '')}' ({error})", node.start_mark) from None


_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")

# Only these implicit resolutions; a plain scalar matching none of them is text.
_StrictLoader.yaml_implicit_resolvers = {}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise ValueError("expected a whole number in decimal digits")
    return int(text)


def _construct_float(loader: _StrictLoader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node)
    if not re.fullmatch(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", text):
        raise ValueError("expected a decimal number")
    return _finite(float(text))


def _finite(value: float) -> float:
    """``1e999`` reads as infinity: no policy value is one (a ``generalize`` bucket of infinity was
    accepted and written into SQL as the bare word ``inf``, which the database reads as a column)."""
    if not math.isfinite(value):
        raise ValueError("out of range: not a finite number")
    return value


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are each given once; an unhashable key (``{[a, b]: x}``) is a read error."""
    if not isinstance(node, yaml.MappingNode):
        raise ConstructorError(None, None, f"expected a mapping, but found {node.id}", node.start_mark)
    out: dict[Any, Any] = {}
    seen: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise ConstructorError(None, None, "found unhashable key", key_node.start_mark)
        if key in seen:
            mark = key_node.start_mark
            raise ReadError(
                f"line {mark.line + 1}, column {mark.column + 1}: key '{key}' is given twice in one mapping "
                f"(first on line {seen[key].start_mark.line + 1})"
            )
        seen[key] = key_node
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


def _construct_yaml_map(loader: _StrictLoader, node: yaml.MappingNode) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(_construct_mapping(loader, node))


def _construct_undefined(loader: _StrictLoader, node: yaml.Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise ConstructorError(None, None, f"the tag '{tag}' is not supported here; write the value without it",
                           node.start_mark)


_StrictLoader.yaml_constructors = {
    "tag:yaml.org,2002:null": yaml.SafeLoader.construct_yaml_null,
    "tag:yaml.org,2002:bool": yaml.SafeLoader.construct_yaml_bool,
    "tag:yaml.org,2002:int": _construct_int,
    "tag:yaml.org,2002:float": _construct_float,
    "tag:yaml.org,2002:str": yaml.SafeLoader.construct_yaml_str,
    "tag:yaml.org,2002:seq": yaml.SafeLoader.construct_yaml_seq,
    "tag:yaml.org,2002:map": _construct_yaml_map,
    None: _construct_undefined,
}


class _DuplicateJsonKey(ReadError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJsonKey(key)
        out[key] = value
    return out


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _locate_duplicate_json_key(text: str) -> tuple[str, int, int] | None:
    """The first key given twice in one object, in text order: (key, its offset, the first one's).

    Only run once the parser has found a duplicate, so the cost is paid only on that error path;
    ``None`` when the text cannot be followed (the message then goes without a position).
    """
    stack: list[dict[str, int] | None] = []  # a dict of keys seen per object, None per array
    expect_key = False
    index = 0
    try:
        while index < len(text):
            char = text[index]
            if char == "{":
                stack.append({})
                expect_key = True
            elif char == "[":
                stack.append(None)
                expect_key = False
            elif char in "}]":
                stack.pop()
                expect_key = False
            elif char == ",":
                expect_key = bool(stack) and stack[-1] is not None
            elif char == ":":
                expect_key = False
            elif char == '"':
                value, end = scanstring(text, index + 1)
                keys = stack[-1] if stack else None
                if expect_key and keys is not None:
                    if value in keys:
                        return value, index, keys[value]
                    keys[value] = index
                    expect_key = False
                index = end
                continue
            index += 1
    except (ValueError, IndexError):
        return None
    return None


def parse_text(text: str, *, json_file: bool) -> Any:
    """Parse a policy file's text; raises :class:`ReadError` with a located message, and nothing else."""
    try:
        return _parse_json(text) if json_file else _parse_yaml(text)
    except ReadError:
        raise
    except RecursionError:
        raise ReadError("is nested too deeply to read") from None
    except Exception as error:  # noqa: BLE001 - a reader must never let an exception escape the loader
        raise ReadError(f"cannot be read: {error}") from None


class _NotJson(ReadError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON: a policy value is never one."""
    raise _NotJson(name)


def _locate_outside_strings(text: str, word: str) -> int | None:
    """The offset of the first ``word`` that is not inside a JSON string."""
    index = 0
    while index < len(text):
        if text[index] == '"':
            try:
                index = scanstring(text, index + 1)[1]
            except ValueError:
                return None
            continue
        if text.startswith(word, index):
            return index
        index += 1
    return None


class _NotFinite(ReadError):
    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def _finite_json_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotFinite(literal)
    return value


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_json_keys, parse_constant=_reject_constant,
                          parse_float=_finite_json_float)
    except _NotFinite as error:
        offset = _locate_outside_strings(text, error.literal)
        where = "line {}, column {}: ".format(*_line_column(text, offset)) if offset is not None else ""
        raise ReadError(f"{where}invalid JSON: {error.literal} is out of range (not a finite number)") from None
    except _DuplicateJsonKey as error:
        found = _locate_duplicate_json_key(text)
        if found is None:
            raise ReadError(f"key '{error.key}' is given twice in one object") from None
        key, second, first = found
        line, column = _line_column(text, second)
        raise ReadError(f"line {line}, column {column}: key '{key}' is given twice in one object "
                        f"(first on line {_line_column(text, first)[0]})") from None
    except _NotJson as error:
        offset = _locate_outside_strings(text, error.name)
        where = "line {}, column {}: ".format(*_line_column(text, offset)) if offset is not None else ""
        raise ReadError(f"{where}invalid JSON: {error.name} is not a JSON value") from None
    except json.JSONDecodeError as error:
        raise ReadError(f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None


def _parse_yaml(text: str) -> Any:
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
