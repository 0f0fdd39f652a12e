"""SQL fragments written once as text by us, instantiated by substituting syntax trees, and the
quoted names the rewrite builds.

Protections are easiest to read as SQL, but policy values (a mask character, a redact value) must
never be pasted into SQL text. The fragment machinery (:func:`build`, :func:`literal`, :func:`cast`)
lives with the protection kinds, at the model layer, which build their SQL with it; the rewrite uses
the same pieces from there rather than a copy.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.protections._sql import DIALECT, build, cast, literal

__all__ = ["DIALECT", "build", "cast", "column_of", "literal", "quoted"]


def quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column_of(alias: str, name: str) -> exp.Column:
    return exp.Column(this=quoted(name), table=quoted(alias))
