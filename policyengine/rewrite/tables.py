"""Kept only for :mod:`policyengine.dlp.egress`, which imports ``classify`` from here: the table
classification is :func:`policyengine.rewrite.classify.classify_tables` (the classify stage's
analysis). Remove this module once that import names :mod:`policyengine.rewrite.classify`.
"""

from policyengine.rewrite.classify import Classified, classify_tables as classify

__all__ = ["Classified", "classify"]
