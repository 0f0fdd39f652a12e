"""The egress check as a result hook: registered with the engine, imported only when a set turns it on.

:mod:`policyengine.dlp.egress` (detectors, lineage) is imported by :meth:`EgressHook.wrap`, the first
time a policy set with ``egress_check: log`` or ``mask`` runs a statement; with ``off`` (the default)
this module is all that is loaded, and :meth:`EgressHook.applies` is one setting compared
(docs/dlp.md, "Cost"). Registered when this module is imported, which ``policyengine/__init__.py``
does, so the engine never imports the DLP package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policyengine.result_hooks import ResultContext, register

if TYPE_CHECKING:
    from policyengine.backends.base import ResultRows
    from policyengine.model import PolicySet


class EgressHook:
    """Scans result columns that come only from lowest-level columns; logs or masks what it finds."""

    name = "egress_check"

    def applies(self, policy_set: PolicySet) -> bool:
        return policy_set.settings.egress_check != "off"

    def wrap(self, result: ResultRows, context: ResultContext) -> ResultRows:
        from policyengine.dlp.egress import guard

        settings = context.policy_set.settings
        return guard(result, mode=settings.egress_check, rewritten=context.rewritten, sql=context.sql,
                     read=context.read, lowest=settings.lowest_level, resolve=context.resolve,
                     version=context.policy_set.version, record=context.record)


register(EgressHook())
