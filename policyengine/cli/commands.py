"""Registers every subcommand on the app; each lives in a module of its own."""

from policyengine.cli import demo, explain, validate  # noqa: F401
