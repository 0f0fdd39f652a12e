"""Registers every subcommand on the app; each lives in a module of its own."""

from policyengine.cli import apply, audit, ddl, demo, explain, fuzz, import_, keys, lineage, policytests, query, report, scan, schema, serve, user, validate  # noqa: F401
