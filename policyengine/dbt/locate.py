"""Where something came from in a dbt project, so that every problem points at the line to fix.

A dbt project's labels are written in its property files (``models/schema.yml``) or read from the
``manifest.json`` that dbt writes from them. A problem found while importing (an unknown level, a
masking policy nobody mapped, an e-mail mask on an integer column that the policy loader rejects)
is worth little if it names the generated contract: the author edits the dbt project, not the
contract. So each imported value carries an :class:`Origin`, and problems are reported as
``models/schema.yml:31: models[1].columns[2].meta.masking_policy: ...`` in the policy set's own
``file: field: what is wrong`` form, with the line where the YAML gives one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from policyengine.model.base import describe_value
from policyengine.model.problems import Problem

PathPart = str | int
Path_ = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def format_path(path: Path_) -> str:
    """``('nodes', 'model.shop.customers', 'columns', 'email')`` as ``nodes["model.shop.customers"].columns.email``.

    Like the loader's paths, but a key that holds a dot (manifest unique ids) is bracketed, so the
    path can be read back unambiguously.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


class Locator:
    """Line numbers of a YAML file's nodes, by path; ``None`` where the file cannot say.

    The strict reader (:mod:`policyengine.model.reading`) gives the values; this composes the same
    text once more to keep the positions, which the values no longer have.
    """

    def __init__(self, text: str | None):
        self._root: yaml.Node | None = None
        if text is not None:
            try:
                self._root = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self._root = None

    def line(self, path: Path_) -> int | None:
        """The 1-based line of the deepest node of ``path`` that exists (a key's line for a mapping entry)."""
        node = self._root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                found = next(((k, v) for k, v in node.value
                              if isinstance(k, yaml.ScalarNode) and k.value == part), None)
                if found is None:
                    return line
                line, node = found[0].start_mark.line + 1, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


@dataclass(frozen=True)
class Origin:
    """A place in a file of the dbt project: file (relative, as shown), path inside it, and its lines."""

    file: str
    path: Path_ = ()
    locator: Locator | None = field(default=None, compare=False, repr=False)

    def at(self, *more: PathPart) -> Origin:
        return Origin(self.file, self.path + tuple(more), self.locator)

    @property
    def line(self) -> int | None:
        return self.locator.line(self.path) if self.locator is not None else None

    @property
    def where(self) -> str:
        """``models/schema.yml:31``: the file, and the line when known."""
        line = self.line
        return f"{self.file}:{line}" if line else self.file

    def problem(self, message: str) -> Problem:
        return Problem(self.where, format_path(self.path), message)


@dataclass
class Found:
    """Problems collected while importing; nothing is written while there is any."""

    problems: list[Problem] = field(default_factory=list)
    #: things worth saying that do not stop the import (a model with no documented columns)
    notes: list[str] = field(default_factory=list)

    def add(self, origin: Origin, message: str) -> None:
        self.problems.append(origin.problem(message))

    def note(self, origin: Origin, message: str) -> None:
        self.notes.append(f"{origin.where}: {format_path(origin.path)}: {message}" if origin.path
                          else f"{origin.where}: {message}")


def describe(value: Any) -> str:
    """A short rendering of a wrong value, as the policy loader renders them."""
    return describe_value(value)
