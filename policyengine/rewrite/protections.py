"""The protected value of a column: the facade the wrapper and the Snowflake planner call.

Each kind's builder lives in its own module of :mod:`policyengine.protections` (one module per
kind); this module only dispatches to it. Every builder keeps the column's type (the result is
cast to it, as Snowflake requires of a masking policy; a custom expression with TRY_CAST), keeps
NULL as NULL, and cannot raise on any value: an error message would carry the raw value to the reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from policyengine.model import Column
from policyengine.protections import KINDS, Build
from policyengine.protections.email import EMAIL_MASK
from policyengine.protections.redact import REDACTED

__all__ = ["EMAIL_MASK", "REDACTED", "protect"]


def protect(value: exp.Expression, column: Column, protection: Any,
            bind: Callable[[exp.Expression], exp.Expression] | None = None,
            udfs: Callable[[str], str] | None = None) -> exp.Expression:
    """The protected value of ``column``, of the column's type.

    ``bind`` (from the wrapper) qualifies a custom mask's row columns and binds context functions.
    ``udfs`` names the warehouse's keyed UDFs, for a target where the key lives there (Snowflake)
    rather than in session variables. An unknown kind is a KeyError: nothing is shown unprotected.
    """
    return KINDS[protection.kind].build(value, column, protection, Build(bind=bind, udfs=udfs))
