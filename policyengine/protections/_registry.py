"""The registry: every protection kind, collected from the modules of :mod:`policyengine.protections`.

Each module of the package whose name does not start with ``_`` is one kind and defines ``KIND``;
a module without it, or whose ``KIND`` names another kind, stops the import (fail closed: a kind
half-declared is not a kind the engine may apply). Everything else is derived here.
"""

from __future__ import annotations

import functools
import importlib
import operator
import pkgutil
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from policyengine.protections._kind import Kind


def discover(folder: Path, package: str) -> dict[str, Kind]:
    """The kinds of the modules in ``folder`` (the package ``package``), weakest first (by rank, then
    name); raises ImportError naming a module that is not a complete kind."""
    found: dict[str, Kind] = {}
    for module in pkgutil.iter_modules([str(folder)]):
        if module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"{package}.{module.name}")
        kind = getattr(loaded, "KIND", None)
        if not isinstance(kind, Kind):
            raise ImportError(f"{package}.{module.name} declares no KIND = Kind(...): every module of {package} "
                              "is a protection kind")
        if kind.name != module.name:
            raise ImportError(f"{package}.{module.name} declares kind '{kind.name}': "
                              "a kind's module is named after it")
        found[kind.name] = kind
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


#: every kind by name, weakest first (by rank, then name)
REGISTRY: dict[str, Kind] = discover(Path(__file__).resolve().parent, "policyengine.protections")

#: the kinds' names, weakest first
NAMES: tuple[str, ...] = tuple(REGISTRY)

#: kinds that need the configured key (POLICYENGINE_KEY or a key file)
KEYED: frozenset[str] = frozenset(name for name, kind in REGISTRY.items() if kind.keyed)

#: the discriminated union a column's ``protection`` is validated with
PROTECTION: Any = Annotated[functools.reduce(operator.or_, (kind.model for kind in REGISTRY.values())),
                            Field(discriminator="kind")]

#: what a policy test's ``masked`` may name: every kind that shows a value (not none, not deny)
MASK_KIND: Any = Literal[tuple(name for name in NAMES if name not in ("none", "deny"))]  # type: ignore[misc]


def rank(name: str) -> int:
    """The strength of a kind (see :mod:`policyengine.protections`); an unknown kind is refused."""
    return REGISTRY[name].rank
