"""Policy reload for the front door: on SIGHUP, or when the policy files change.

A new set is put in force only whole and only if it validates: it is loaded with the same loader as
at start, and a set with any problem is rejected, logged with its located problems, and the set in
force stays. A server must never run half a policy set, nor stop answering because someone saved a
broken file.

Files are polled rather than watched with inotify & co.: no new dependency, it works the same on
every platform and on network or ConfigMap mounts, and a policy folder is a handful of small files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from policyengine.loading import load_policy_set
from policyengine.model import PolicySet, PolicySetInvalid, Problem
from policyengine.model.loader import SUFFIXES

LOGGER = logging.getLogger("policyengine.server")

#: a file modified this recently is hashed on every poll even if its mtime and size look unchanged:
#: two writes within one timestamp tick could otherwise go unnoticed (git's "racy" files)
RACY_SECONDS = 2.0

Status = Literal["reloaded", "unchanged", "rejected"]


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload attempt did; ``version`` is the set in force afterwards, whatever happened."""

    status: Status
    version: str
    previous_version: str
    problems: tuple[Problem, ...] = ()
    trigger: str = "manual"

    @property
    def ok(self) -> bool:
        """True unless the files were rejected (an unchanged set is fine: nothing to do)."""
        return self.status != "rejected"

    def summary(self) -> str:
        """One log line: the outcome, and for a rejection every problem as ``file: path: message``.

        Problems name files, fields and names, never values of keys (the loader's messages do not
        carry them); newlines in a message (a YAML error's) are folded so the line stays one line.
        """
        if self.status == "reloaded":
            return f"policy set reloaded ({self.trigger}): version {self.previous_version} -> {self.version}"
        if self.status == "unchanged":
            return f"policy set unchanged ({self.trigger}): version {self.version} stays in force"
        count = len(self.problems)
        listed = "; ".join(" ".join(str(problem).split()) for problem in self.problems)
        return (f"policy reload rejected ({self.trigger}): {count} problem{'s' if count != 1 else ''}, "
                f"version {self.version} stays in force: {listed}")


def reload_policy_set(engine: Any, policies: str | Path | None, *, trigger: str = "manual") -> ReloadOutcome:
    """Load ``policies``, and put it in force on ``engine`` only if it is valid and differs.

    Blocking (it reads and validates files): call it from a worker thread, one call at a time (the
    server holds a lock around it). The swap is :meth:`Engine.replace_policy_set`, a single
    assignment, so statements already rewritten finish with the set they started with.
    """
    current: PolicySet = engine.policy_set

    def rejected(*problems: Problem) -> ReloadOutcome:
        return ReloadOutcome("rejected", current.version, current.version, problems, trigger)

    if policies is None:
        outcome = rejected(Problem("(policies)", "", "the server has no policy folder to reload from"))
    else:
        try:
            loaded = load_policy_set(policies)
        except PolicySetInvalid as invalid:
            outcome = rejected(*invalid.problems)
        except Exception as error:  # noqa: BLE001 - a loader bug must not take the server down either
            LOGGER.debug("policy loader failed", exc_info=True)
            outcome = rejected(Problem(str(policies), "", f"internal error while loading: "
                                                          f"{type(error).__name__}"))
        else:
            if loaded.version == current.version:
                outcome = ReloadOutcome("unchanged", current.version, current.version, (), trigger)
            else:
                engine.replace_policy_set(loaded)
                outcome = ReloadOutcome("reloaded", loaded.version, current.version, (), trigger)
    _report(engine, outcome, policies)
    return outcome


def _report(engine: Any, outcome: ReloadOutcome, policies: str | Path | None) -> None:
    """Log every attempt (rejections as errors: someone must fix the files) and audit it."""
    level = {"reloaded": logging.INFO, "unchanged": logging.DEBUG, "rejected": logging.ERROR}[outcome.status]
    LOGGER.log(level, "%s", outcome.summary())
    audit = getattr(engine, "audit", None)
    if audit is None:
        return
    try:
        # no 'decision' (that is a statement's); 'reason' so `policyengine audit` lists the line readably
        count = len(outcome.problems)
        audit.record(event="policy_reload", outcome=outcome.status, trigger=outcome.trigger,
                     version=outcome.version, previous_version=outcome.previous_version, problems=count,
                     policies=str(policies) if policies is not None else None,
                     reason=f"policy reload ({outcome.trigger}): {outcome.status}"
                            + (f", {count} problem{'s' if count != 1 else ''}" if count else "")
                            + f"; version {outcome.version} in force")
    except OSError:  # an audit log that cannot be written must not undo or block the reload
        LOGGER.exception("could not record the policy reload in the audit log")


# --- the users file ---------------------------------------------------------------------------

def reload_users(current: dict[str, Any], path: str | Path | None, *, trigger: str = "manual",
                 engine: Any = None) -> dict[str, Any] | None:
    """The users file's verifiers if it reads whole and differs from ``current``, else None (keep them).

    As for the policy set: a file that cannot be read, does not parse, or holds one bad verifier is
    rejected whole and logged, and the users in force stay (never a partial set, never a fallback
    that lets more in). A missing file is rejected too: a file deleted by mistake must not lock every
    principal out, nor one being replaced be read half-way (``user add`` replaces it atomically).
    """
    from policyengine.server.users import UsersFileError, load_users

    if path is None:
        return None
    try:
        if not Path(path).is_file():
            raise UsersFileError(f"{path}: no such file")
        loaded = load_users(path)
    except UsersFileError as error:
        LOGGER.error("users file reload rejected (%s): %s; the %d users in force stay", trigger, error, len(current))
        _audit_users(engine, "rejected", trigger, len(current), path)
        return None
    except Exception as error:  # noqa: BLE001 - a bug must not take the server down either
        LOGGER.exception("users file reload failed (%s): %s", trigger, type(error).__name__)
        _audit_users(engine, "rejected", trigger, len(current), path)
        return None
    if loaded == current:
        LOGGER.debug("users file unchanged (%s): %d users", trigger, len(current))
        return None
    added = sorted(set(loaded) - set(current))
    removed = sorted(set(current) - set(loaded))
    changed = sorted(n for n in set(loaded) & set(current) if loaded[n] != current[n])
    LOGGER.info("users file reloaded (%s): %d users (%d added, %d removed, %d new passwords)", trigger,
                len(loaded), len(added), len(removed), len(changed))
    _audit_users(engine, "reloaded", trigger, len(loaded), path)
    return loaded


def _audit_users(engine: Any, outcome: str, trigger: str, count: int, path: str | Path) -> None:
    audit = getattr(engine, "audit", None)
    if audit is None:
        return
    try:
        audit.record(event="users_reload", outcome=outcome, trigger=trigger, users=count, users_file=str(path),
                     reason=f"users file reload ({trigger}): {outcome}; {count} users in force")
    except OSError:
        LOGGER.exception("could not record the users file reload in the audit log")


# --- watching the files -------------------------------------------------------------------------

Fingerprint = tuple[tuple[str, int, str], ...]  # (relative path, size, sha256) of each policy file


@dataclass
class _Seen:
    mtime_ns: int
    size: int
    digest: str


def policy_files(root: Path) -> list[Path]:
    """The files the loader reads: ``policyengine`` and ``roles`` in any suffix, and ``tables/**``.

    Matched the way :func:`load_policy_set` matches them, so an edit to any file that can change the
    set is seen, and an edit to anything else (``policies/tests/*.py``) does not cause a reload.
    """
    found = [root / f"{stem}{suffix}" for stem in ("policyengine", "roles") for suffix in SUFFIXES]
    files = [path for path in found if path.is_file()]
    tables = root / "tables"
    if tables.is_dir():
        files += sorted(p for p in tables.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    return files


@dataclass
class PolicyWatcher:
    """Polls a policy folder and calls ``on_change`` once its files changed and then held still.

    Each poll takes a fingerprint of the files (path, size, content hash; a file is re-read only
    when its mtime or size moved, or it is too recent to trust its mtime). A reload is triggered
    when a new fingerprint is seen on two polls in a row: an editor that writes a file in several
    steps, or a copy of several files, gives one reload of the finished set rather than a rejected
    half-written one followed by a good one. A rejected fingerprint is not retried: the next edit is.
    """

    root: Path
    on_change: Callable[[], Awaitable[Any]]
    interval: float = 1.0
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stable: Fingerprint | None = field(default=None, repr=False)

    def fingerprint(self) -> Fingerprint:
        """The folder's policy files now (blocking: reads files whose mtime moved)."""
        now = time.time()
        result: list[tuple[str, int, str]] = []
        seen: dict[str, _Seen] = {}
        for path in policy_files(self.root):
            rel = path.relative_to(self.root).as_posix()
            try:
                stat = path.stat()
                before = self._seen.get(rel)
                racy = now - stat.st_mtime < RACY_SECONDS
                if before is not None and not racy and (before.mtime_ns, before.size) == (stat.st_mtime_ns,
                                                                                        stat.st_size):
                    digest = before.digest
                else:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:  # removed or replaced between the listing and the read: next poll sees it
                continue
            seen[rel] = _Seen(stat.st_mtime_ns, stat.st_size, digest)
            result.append((rel, stat.st_size, digest))
        self._seen = seen
        return tuple(result)

    def start(self) -> asyncio.Task[None]:
        """Take the current files as the baseline and poll in a task of the running loop."""
        self._stable = self.fingerprint()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="policy-watcher")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run(self) -> None:
        """Poll forever; a failed poll or reload is logged and the next poll goes on."""
        if self._stable is None:
            self._stable = await asyncio.to_thread(self.fingerprint)
        candidate: Fingerprint | None = None
        while True:
            await asyncio.sleep(self.interval)
            try:
                now = await asyncio.to_thread(self.fingerprint)
                if now == self._stable:
                    candidate = None
                elif now != candidate:
                    candidate = now  # changed: wait one more poll for the writer to finish
                else:
                    self._stable, candidate = now, None
                    await self.on_change()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad poll
                LOGGER.exception("policy watcher: poll of %s failed", self.root)


def policy_folder(policies: str | Path | None, policy_set: PolicySet) -> Path | None:
    """The folder to reload from: the one given, else the one the set in force was loaded from."""
    if policies is not None:
        return Path(policies)
    return Path(policy_set.root) if policy_set.root else None


__all__ = ["PolicyWatcher", "ReloadOutcome", "policy_files", "policy_folder", "reload_policy_set",
           "reload_users"]
