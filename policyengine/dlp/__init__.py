"""Data loss prevention: find personal data by content, and stop it leaving through a wrong label.

- :mod:`policyengine.dlp.detectors`: value-level detectors (regular expressions with validators:
  Luhn, mod-97, SSN ranges, NINO prefixes, :mod:`ipaddress`), used by both the scan and the egress check.
- :mod:`policyengine.dlp.classify`: column-level classification from a sample of values and the
  column's name (dates of birth, person names and locations need both).
- :mod:`policyengine.dlp.scan`: ``policyengine scan``: sample a database, compare with the contracts,
  propose contracts for tables that have none.
- :mod:`policyengine.dlp.egress`: the ``egress_check`` setting's wrapper over result batches.
- :mod:`policyengine.dlp.labelled` and :mod:`policyengine.dlp.evaluate`: a deterministic labelled
  data set with near-misses, and the precision/recall measured on it (``docs/dlp.md``).

Nothing here imports a database driver at module level, so the egress check costs nothing to import
when it is off.
"""
