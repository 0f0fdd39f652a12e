"""policyengine: a SQL-layer data access policy engine for warehouses.

Policy files are loaded and validated by :mod:`policyengine.model`; :mod:`policyengine.decision`
turns a validated policy set, a principal and an environment into what each column shows.
"""

# the optional features' result hooks, registered before any engine can be made (policyengine.result_hooks)
import policyengine.dlp.hook  # noqa: F401  (registers the egress check; imports no detector)
from policyengine.loading import load_policy_set
from policyengine.model import PolicySet, PolicySetInvalid, Problem

__all__ = ["PolicyDenied", "PolicySet", "PolicySetInvalid", "Problem", "connect", "load_policy_set"]


def connect(database, **options):  # type: ignore[no-untyped-def]
    """A DB-API 2.0 connection with the policies enforced; see :func:`policyengine.dbapi.connect`."""
    from policyengine.dbapi import connect as dbapi_connect

    return dbapi_connect(database, **options)


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``policyengine.PolicyDenied``, what a refused statement raises through :func:`connect`, without
    importing the DB-API (and DuckDB) for users who only load policy sets."""
    if name == "PolicyDenied":
        from policyengine.dbapi import PolicyDenied

        return PolicyDenied
    raise AttributeError(f"module 'policyengine' has no attribute {name!r}")
__version__ = "0.1.0"
