"""Reading a started process's output line by line (``policyengine serve`` run for real), for tests
that wait for a line saying what the process did (serving, a reload taken or rejected)."""

from __future__ import annotations

import queue
import time
from typing import Any

from tests.harness.frontdoor import KEY

#: the key the served processes get (hex); tests check it never reaches a log line
SERVED_KEY_HEX = KEY.master.hex()


def read_lines(stream: Any, into: queue.Queue[str]) -> None:
    """Copy a stream's lines into a queue (run on a thread: the stream blocks)."""
    for line in stream:
        into.put(line)


def expect_line(lines: queue.Queue[str], containing: str, seen: list[str], timeout: float = 20.0) -> str:
    """The next line containing ``containing``; every line read is kept in ``seen`` for the failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if containing in line:
            return line
    raise AssertionError(f"no line with {containing!r}; got: {''.join(seen)}")
