"""What the engine needs of a backend, and of the result it returns: the :class:`Backend` protocol.

A backend runs a statement the rewriter produced, in its own dialect, and hands back the rows. The
engine and the front ends use nothing of a backend beyond these two protocols, so a new one
(another warehouse, a remote DuckDB) is a class that has these members, checked by
``tests/test_backend_protocol.py``; there is no registry and no base class to inherit from. What
one backend cannot do is said by a member's value (``udf_prefix`` None, ``path`` None, ``columns()``
None, ``streams_arrow`` False), never by a member that is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from policyengine.model import PolicySet
from policyengine.rewrite import Rewritten, TableResolver

#: values for ``?``/``$1`` (a sequence) or ``$name`` (a mapping)
Parameters = Sequence[Any] | Mapping[str, Any] | None


@runtime_checkable
class ResultRows(Protocol):
    """One statement's result: column names and types, then the rows, read once.

    Database errors arrive as :class:`policyengine.backends.errors.QueryFailed`, never with a value
    in them. ``close()`` may be called at any point, and more than once.
    """

    columns: list[str]
    types: list[str]

    @property
    def streams_arrow(self) -> bool:
        """Whether :meth:`arrow_batches` is how this result is best read (the backend made it Arrow);
        rows are then read with it instead of :meth:`batches`."""
        ...

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        """The rows, a batch at a time, as the caller reads them."""
        ...

    def arrow_batches(self) -> Iterator[Any]:
        """The rows as Arrow record batches."""
        ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def arrow(self) -> Any:
        """The rows not yet read, as a pyarrow Table."""
        ...

    def df(self) -> Any:
        """The rows not yet read, as a pandas DataFrame."""
        ...

    def interrupt(self) -> None:
        """Cancel the statement from another thread."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Where rewritten statements run."""

    #: the sqlglot dialect the rewriter writes for this backend
    dialect: str
    #: the local database file, for front ends that open their own connection to it (the DB-API,
    #: the policy test runner); None for a warehouse
    path: Path | None

    @property
    def udf_prefix(self) -> str | None:
        """Where the keyed protections' functions live (``database.schema``), for a backend that
        computes them in UDFs; None where the key is in session variables (DuckDB)."""
        ...

    @property
    def has_key(self) -> bool:
        """Whether hash, tokenize and encrypt can be computed: a key was given, or the warehouse
        holds it in its secure UDFs. The engine refuses statements that need one when not."""
        ...

    def resolver(self, policy_set: PolicySet) -> TableResolver:
        """How the rewriter finds ``policy_set``'s tables among this backend's catalogs and schemas."""
        ...

    def columns(self) -> dict[tuple[str, str], dict[str, str]] | None:
        """(schema, table) -> {column (lower case): type}, for checking contracts against the data;
        None where the backend does not list them."""
        ...

    def execute(self, rewritten: Rewritten, parameters: Parameters = None,
                started: Callable[[Any], None] | None = None,
                arrow: Callable[[list[str]], bool] | None = None) -> ResultRows:
        """Run a rewritten statement. ``started`` gets an object whose ``interrupt()`` cancels it;
        ``arrow`` says which result types the caller takes as Arrow batches (a backend may ignore it)."""
        ...

    def interrupt(self) -> None:
        """Cancel whatever is running."""
        ...

    def close(self) -> None: ...
