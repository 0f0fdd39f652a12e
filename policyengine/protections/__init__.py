"""Protection kinds (spec section 7): one module per kind, and the registry built from them.

A kind is one module here (``partial.py``, ``round.py``...) that defines ``KIND = Kind(...)``
(:class:`~policyengine.protections._kind.Kind`): its pydantic model, the types it fits, its
strength rank, whether it is keyed, its parameter checks, how two of its parameter sets compare,
its SQL builder, its Snowflake template (where Snowflake's own function is used) and its
plain-Python reference for the fuzz oracle. The registry (:mod:`policyengine.protections._registry`)
discovers the modules; everything that lists kinds derives from it: the ``Protection`` union and
``KINDS``/``KEYED_KINDS`` (:mod:`policyengine.model.protections`), the type-fit checks, the JSON
Schema, the policy tests' ``masked`` kinds, the rewrite's builders, the Snowflake DDL, lineage, the
fuzzers and the oracle.

**Strength** is one order, by how much of the value an uncleared reader still learns, least
protection first (equal ranks are equally strong and incomparable):

==========  ====  ===========================================================================
kind        rank  what still shows
==========  ====  ===========================================================================
none        0     the value
custom      10    anything the policy's SQL shows, possibly the value itself
partial     20    characters verbatim (the first or last few) and the length
email       20    the domain verbatim (the local part and its length hidden)
generalize  30    a coarser value: a year or month, a bucket, a prefix (no length)
round       30    a coarser number: the value to a power of ten
encrypt     40    equality, and the value itself to whoever holds the key
tokenize    50    equality, the length and the character classes
hash        60    equality only (joins and counts still work)
redact      70    only whether there is a value
nullify     80    not even that
deny        90    not even the column
==========  ====  ===========================================================================

Coarsening (generalize, round) ranks above partial and email: those show part of the value
verbatim, while a coarsened value shows no digit or character the coarsening did not keep on
purpose (a year, a bucket, a prefix without the length). Lineage, the policy fuzzer's
"never more permissive" rule and the report all read this one order.

**Adding a kind**: write one module here with its ``KIND`` (and, if Snowflake should use its own
function rather than the builder's SQL transpiled, one ``sql/snowflake/protection_<name>.sql.j2``),
add its rows to ``docs/policy-model.md``, and regenerate ``policyengine/schema`` with
``policyengine schema``. ``tests/test_protection_registry.py`` checks the module declares every part.

Layering: this package is part of the model layer. It imports sqlglot, pydantic, the model's
base and types and :mod:`policyengine.crypto`, never :mod:`policyengine.rewrite` or anything above;
the rewrite calls the builders through :func:`policyengine.rewrite.protections.protect`.
"""

from __future__ import annotations

import policyengine.model  # noqa: F401  - loads the model first: its column model needs the registry below
from policyengine.protections._kind import Build, Kind
from policyengine.protections._registry import KEYED, MASK_KIND, NAMES, PROTECTION, REGISTRY, rank

#: every kind by name, weakest first
KINDS: dict[str, Kind] = REGISTRY

__all__ = ["Build", "KEYED", "KINDS", "Kind", "MASK_KIND", "NAMES", "PROTECTION", "rank"]
