"""Reading a started process's output line by line (``policyengine serve`` run for real), for tests
that wait for a line saying what the process did (serving, a reload taken or rejected)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
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


@dataclass
class Served:
    """A `policyengine serve` process: its pid, port, and its output lines as they come."""

    process: subprocess.Popen[str]
    port: int
    out: queue.Queue[str]
    err: queue.Queue[str]
    seen: list[str]


@contextmanager
def served(policies: Path, database: Path, users_file: Path, audit: Path) -> Iterator[Served]:
    """``policyengine serve`` run for real on a free port (policy watching off: reloads come by SIGHUP),
    stopped afterwards however the test ends."""
    env = {**os.environ, "POLICYENGINE_KEY": SERVED_KEY_HEX, "PYTHONUNBUFFERED": "1"}
    env.pop("POLICYENGINE_KEY_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "policyengine", "--policies", str(policies), "serve", "--db", str(database),
         "--port", "0", "--users", str(users_file), "--audit", str(audit), "--watch-interval", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    readers = [threading.Thread(target=read_lines, args=(stream, into), daemon=True)
               for stream, into in ((process.stdout, out), (process.stderr, err))]
    for reader in readers:
        reader.start()
    seen: list[str] = []
    try:
        serving = expect_line(out, "policyengine serving", seen)
        yield Served(process, int(serving.split("127.0.0.1:")[1].split()[0]), out, err, seen)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for reader in readers:  # at end of file now that the process is gone
            reader.join(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
