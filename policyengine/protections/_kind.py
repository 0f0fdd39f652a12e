"""What one protection kind is made of: the parts every kind module declares, in one record.

A kind module (``policyengine/protections/<name>.py``) defines ``KIND = Kind(...)`` and nothing
outside it needs to know the kind exists: the registry collects the records, and the model, the
type checks, the rewrite, the Snowflake DDL, lineage, the fuzzers and the oracle read them.

This package sits at the model layer: a kind's SQL is built with sqlglot alone (the fragments of
:mod:`policyengine.protections._sql`), never through :mod:`policyengine.rewrite`, so the rewrite may
import the builders without the model importing the rewrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily

if TYPE_CHECKING:  # annotations only: the column model is built from this package's models
    from policyengine.crypto import KeyMaterial
    from policyengine.model.policyset import Column
    from policyengine.model.problems import Problems
    from policyengine.model.types import ColumnType


@dataclass(frozen=True)
class Build:
    """What the caller of a builder knows that the kind does not.

    ``bind``: the wrapper's binding of a custom mask's row columns and context functions.
    ``udfs``: names the warehouse's keyed UDFs, for a target that keeps the key there (Snowflake)
    rather than in session variables; None builds the keyed SQL that reads session variables.
    """

    bind: Callable[[exp.Expression], exp.Expression] | None = None
    udfs: Callable[[str], str] | None = None


#: builds the protected value of a column from the raw value's expression, already of the column's
#: type, NULL kept NULL, and unable to raise on any value (an error message would carry the value)
Builder = Callable[[exp.Expression, "Column", Any, Build], exp.Expression]

#: kind-specific checks of the parameters against the column's type: the protection to keep (a
#: redact value in its canonical spelling), or None after reporting what is wrong into ``at``
Check = Callable[[Any, "ColumnType", "Problems"], Any]

#: the kind in plain Python, for the fuzz oracle: the protected value of one non-NULL raw value
Reference = Callable[[Any, "Column", Any, "KeyMaterial | None"], Any]


@dataclass(frozen=True)
class Kind:
    """Everything about one protection kind. Every field is required: a kind module that leaves
    one out does not load (and ``tests/test_protection_registry.py`` says which)."""

    #: the name written in policies (``kind: partial``)
    name: str
    #: the pydantic model of ``{kind: <name>, ...}``: parameters that do not belong are refused
    model: type[PolicyModel]
    #: strength: how little of the value an uncleared reader still learns (see the registry's
    #: docstring for the order); equal ranks are equally strong, and incomparable
    rank: int
    #: needs the configured key (POLICYENGINE_KEY or a key file)
    keyed: bool
    #: the type families it keeps the type of; None: every scalar type
    families: frozenset[TypeFamily] | None
    #: applies to a whole REPEATED (array) value, not just to one scalar value
    repeated: bool
    #: parameter checks that need the column's type, after the family fits (None: nothing more)
    check: Check | None
    #: two protections of this kind, by their parameters: -1 the new one shows less, 1 more, 0 as
    #: much, None incomparable (the policy fuzzer's "never more permissive"); None: a kind with no
    #: parameters, whose two protections are always equal
    compare: Callable[[dict[str, Any], dict[str, Any]], int | None] | None
    #: the SQL the rewriter and the Snowflake DDL use (the DuckDB dialect; sqlglot writes it for Snowflake)
    build: Builder
    #: a Snowflake template (``sql/snowflake/<name>``) for the masked value, where Snowflake's own
    #: function is to be used rather than the DuckDB tree transpiled; None: the builder's tree
    snowflake: str | None
    #: the template's values for one column (only called when ``snowflake`` is set)
    snowflake_values: Callable[[Column, Any], dict[str, Any]] | None
    #: the kind in plain Python, independent of the SQL, for the oracle
    reference: Reference
    #: one line for the docs and ``describe``: what an uncleared reader sees
    summary: str = field(default="")

    def __post_init__(self) -> None:
        if get_args(self.model.model_fields["kind"].annotation) != (self.name,):
            raise TypeError(f"kind {self.name}: its model's 'kind' is not Literal['{self.name}']")
        if (self.snowflake is None) != (self.snowflake_values is None):
            raise TypeError(f"kind {self.name}: a Snowflake template needs its values, and values a template")
