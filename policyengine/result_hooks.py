"""Result hooks: how an optional feature sees a statement's rows without the engine importing it.

The engine runs a statement and hands its result to each hook that applies under the policy set in
force; a hook may return the result wrapped (the egress check scans and masks values on the way out,
:mod:`policyengine.dlp.hook`). The engine knows only this protocol, so a feature above it is added
by registering a hook, not by an import in the engine (docs/architecture.md).

Hooks are registered here, at import of the feature's hook module, which the package itself does
(``policyengine/__init__.py`` imports :mod:`policyengine.dlp.hook`; Python runs it before any
``policyengine.*`` module), so every :class:`policyengine.engine.Engine` gets them unless it is given
its own tuple. This module imports nothing at run time: registering costs a feature nothing, and a
hook module can stay as light (``egress_check: off`` imports no detector).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from policyengine.backends.base import ResultRows
    from policyengine.model import PolicySet
    from policyengine.rewrite import Rewritten


@dataclass(frozen=True)
class ResultContext:
    """What a hook may know of the statement whose result it sees."""

    policy_set: PolicySet
    rewritten: Rewritten
    #: the reader's own statement, and the dialect it was read in
    sql: str
    read: str
    #: how the rewriter found tables by name (a hook's lineage resolves the statement's tables with it)
    resolve: Callable[[tuple[str, ...]], Any]
    #: writes a line of the statement's audit entry with these fields (``decision=...``, ``reason=...``)
    record: Callable[..., None]


class ResultHook(Protocol):
    """A feature that looks at results (their rows, so never as Arrow batches: see :meth:`applies`)."""

    #: a short name, for the registry and for error messages
    name: str

    def applies(self, policy_set: PolicySet) -> bool:
        """Whether it looks at results under this set's settings. Cheap and import-free: it is asked
        for every statement. When any hook applies, rows come as Python tuples, not Arrow batches."""
        ...

    def wrap(self, result: ResultRows, context: ResultContext) -> ResultRows:
        """The result as the reader gets it: ``result`` itself, or a wrapper over it."""
        ...


_registered: list[ResultHook] = []
_lock = Lock()


def register(hook: ResultHook) -> None:
    """Add ``hook`` for every engine made from now on; registering a name again replaces the hook."""
    with _lock:
        _registered[:] = [h for h in _registered if h.name != hook.name] + [hook]


def registered() -> tuple[ResultHook, ...]:
    """The hooks registered so far, in the order they were registered (each wraps the one before)."""
    with _lock:
        return tuple(_registered)
