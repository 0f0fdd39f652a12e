"""Conformance: checking that a warehouse's own native policies give the engine's answers.

The DDL generator (:mod:`policyengine.ddl`) writes Snowflake policies from the same decision the
DuckDB rewrite applies, and the unit tests compare the two on generated bodies. What they cannot
show is that the policies *deployed* on a real account, with its real role grants, behave the same:
:mod:`policyengine.conformance.snowflake` asks Snowflake itself, role by role, and compares cell by
cell. It is a front end (layer 7): it drives the engine and a warehouse connection, and the CLI's
``policyengine verify snowflake`` prints what it finds.
"""
