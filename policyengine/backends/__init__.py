"""Where rewritten queries run: DuckDB locally (the embedded default)."""
