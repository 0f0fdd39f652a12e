"""Validation problems: every mistake in a policy set, located, reported together.

A policy author fixes files faster when one run lists every mistake with its file and field, so
nothing in the loader raises on the first problem: each check appends a :class:`Problem` and the
set is refused at the end if any were found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render ``('columns', 3, 'name')`` as ``columns[3].name``, the way people write it."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a policy set: where (file and field path) and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        if self.path:
            return f"{self.file}: {self.path}: {self.message}"
        return f"{self.file}: {self.message}"


@dataclass(frozen=True, order=True)
class PolicyWarning(Problem):
    """Something valid that is probably not what the author meant, e.g. an ``unmask`` exception that
    shows a ``deny`` column raw.

    Not a problem: the set still loads and ``policyengine validate`` still exits 0, because the
    spec makes ``unmask`` win and a set the spec allows must keep working. But a ``deny`` says
    "never readable", so the author is told where the two meet. Located the same way as a problem,
    so an editor or a script finds it by file and field.
    """

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: warning: {self.message}"


@dataclass
class Problems:
    """Collects problems for one file while it is checked."""

    file: str
    prefix: Path = ()
    found: list[Problem] = field(default_factory=list)

    def add(self, path: Path, message: str) -> None:
        self.found.append(Problem(self.file, format_path(self.prefix + tuple(path)), message))

    def at(self, *prefix: str | int) -> Problems:
        """A view that reports under ``prefix`` into the same list."""
        return Problems(self.file, self.prefix + prefix, self.found)


class PolicySetInvalid(Exception):
    """Raised once, after loading, when any problem was found; carries all of them."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def from_problems(cls, problems: Iterable[Problem]) -> PolicySetInvalid:
        return cls(list(problems))
