"""A refusal: the statement will not run, and the reason names the construct, never a value."""

from __future__ import annotations


class Refused(Exception):
    """Raised by the rewriter for anything it cannot fully analyse or the policy does not allow.

    ``kind`` lets front doors map a refusal to a protocol code: ``syntax`` (42601), ``policy``
    (42501), ``unsupported`` (0A000), ``missing`` (42P01: a table no contract describes).
    """

    def __init__(self, reason: str, *, kind: str = "policy"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
