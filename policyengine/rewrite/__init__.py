"""The mask-at-read rewrite: every base table replaced by a wrapper that applies the decision."""

from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.resolve import TableResolver
from policyengine.rewrite.rewriter import RULES, Rewritten, rewrite

__all__ = ["RULES", "Refused", "Rewritten", "TableResolver", "rewrite"]
