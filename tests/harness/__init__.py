"""Helpers the test modules share (servers, clients, the red-team runner): plain modules, not tests.

A test module imports from here or gets a fixture from tests/conftest.py; it never imports another
test module (tests/test_suite_hygiene.py checks that).
"""
