"""Benchmarks: each reports ratios against a reference measured in the same run, never asserted."""
