"""Column-level lineage and sensitivity propagation (``policyengine lineage``, ``policyengine derive``).

- :mod:`~policyengine.lineage.analyse`: which source columns each output column of a ``SELECT``,
  ``CREATE TABLE ... AS SELECT``, ``CREATE VIEW`` or dbt model comes from (sqlglot's lineage over a
  schema built from the contracts);
- :mod:`~policyengine.lineage.propagate`: what a derived column inherits (sensitivity, protection);
- :mod:`~policyengine.lineage.contract`: the derived table's contract, new or merged;
- :mod:`~policyengine.lineage.checks`: what validation checks of lineage.

All of it is pure: no file, no database. ``docs/lineage.md`` describes the rules.
"""

from policyengine.lineage.analyse import (
    LineageError,
    OutputColumn,
    SourceColumn,
    StatementLineage,
    Transform,
    analyse,
)
from policyengine.lineage.catalog import Catalog, CatalogTable

__all__ = [
    "Catalog", "CatalogTable", "LineageError", "OutputColumn", "SourceColumn", "StatementLineage", "Transform",
    "analyse",
]
