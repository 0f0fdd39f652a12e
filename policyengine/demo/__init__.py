"""The demo: a synthetic, PII-laden database for the example policy set in ``policies/``."""
