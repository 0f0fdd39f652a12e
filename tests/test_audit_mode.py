"""Audit log files are the owner's alone (0600): they hold every statement and what it read."""

from __future__ import annotations

import os
import stat

import pytest

from policyengine import audit as audit_module
from policyengine.audit import AuditLog


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The most permissive umask: the mode must come from the log, not from the process's umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_new_audit_file_is_owner_only(tmp_path, open_umask):
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    log.record(principal="bob", statement="SELECT 1", decision="allowed")
    log.close()
    assert mode(tmp_path / "logs" / "audit.jsonl") == 0o600


def test_rotated_and_deleted_files_are_recreated_owner_only(tmp_path, open_umask, monkeypatch):
    monkeypatch.setattr(audit_module, "ROTATION_CHECK_SECONDS", 0.0)
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record(statement="first")
    path.rename(tmp_path / "audit.jsonl.1")  # logrotate without `create`: the log makes the new file
    log.record(statement="second")
    assert mode(path) == 0o600 and mode(tmp_path / "audit.jsonl.1") == 0o600
    path.unlink()
    log.record(statement="third")
    log.close()
    assert mode(path) == 0o600
    assert "first" in (tmp_path / "audit.jsonl.1").read_text() and "third" in path.read_text()


def test_an_existing_file_keeps_the_mode_it_was_given(tmp_path):
    """A file logrotate created (``create 0640 root adm``) is appended to as it is."""
    path = tmp_path / "audit.jsonl"
    path.touch()
    os.chmod(path, 0o640)
    log = AuditLog(path)
    log.record(statement="SELECT 1")
    log.close()
    assert mode(path) == 0o640 and "SELECT 1" in path.read_text()
