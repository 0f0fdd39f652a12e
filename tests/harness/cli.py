"""``policyengine`` run in-process through its entry point, as the CLI tests drive it."""

from __future__ import annotations

import io
import sys

import pytest


class Cli:
    """Call with the command's arguments: (exit code, standard output, standard error). A traceback in
    either stream fails the test: every error must reach the user as a message."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        from policyengine.cli import main

        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = self.capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return int(exited.value.code or 0), out, err
