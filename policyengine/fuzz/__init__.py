"""Machines that look for the bypasses nobody wrote down: generated queries checked against
oracles, mutated wire sessions against the front door, mutated policy sets against the loader.

Everything is deterministic from a seed, so a failure reproduces from (seed, index).
"""
