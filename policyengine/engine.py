"""The Python API: load a policy set (and optionally a database), rewrite and run queries.

``Engine.load("policies", db="demo.duckdb")`` then ``engine.query(sql, role="bi_analyst")``.
Every query is rewritten for its subject, checked, run, and recorded in the audit log; refusals
raise :class:`Refused` with a reason that names the construct, never a value.

The engine knows a backend only as a :class:`policyengine.backends.base.Backend` (DuckDB is the one it
opens itself, in :meth:`Engine.load`) and optional features only as result hooks
(:mod:`policyengine.result_hooks`): the egress check of :mod:`policyengine.dlp` is one, and the engine
does not import it (docs/architecture.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from threading import Lock
from typing import Any

from policyengine.audit import AuditLog, Encoded, fingerprint, reads
from policyengine.backends.base import Backend, Parameters, ResultRows
from policyengine.backends.duckdb import DuckDBBackend, Limits
from policyengine.backends.errors import QueryFailed
from policyengine.bounded_cache import BoundedCache, text_bytes
from policyengine.crypto import KeyMaterial, load_key
from policyengine.decision import DecisionError, Outcome, Subject, environment_for, subject_for
from policyengine.loading import load_policy_set
from policyengine.model import PolicySet
from policyengine.model.protections import KEYED_KINDS
from policyengine.result_hooks import ResultContext, ResultHook, registered
from policyengine.rewrite import Refused, Rewritten, TableResolver, rewrite

CACHE_SIZE = 4096
#: what the rewrites kept per statement text, and their audit lines' JSON, may hold (bytes, estimated)
REWRITES_BUDGET = 16 << 20
AUDIT_FRAGMENTS_BUDGET = 8 << 20
#: the limits of a database opened by :meth:`Engine.load` when none are given (frozen, so shared)
DEFAULT_LIMITS = Limits()


class _Later:
    """An audit field worked out when the line is written (not at all when there is no audit log)."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], Any]):
        self._make = make

    def __call__(self) -> Any:
        return self._make()


class QueryResult:
    """Columns, then rows in batches. The audit line is written when the rows are read, or when the
    result is closed or dropped unread, so every statement that ran is recorded."""

    def __init__(self, columns: list[str], types: list[str], rewritten: Rewritten, stream: ResultRows,
                 on_done: Callable[[int], None] | None = None):
        self.columns = columns
        self.types = types
        self.rewritten = rewritten
        #: what the reader should be told about the result (a row filter that reads a principal
        #: attribute the reader does not have shows no rows: fail closed, but not silently)
        self.notices: tuple[str, ...] = rewritten.notices
        self._stream = stream
        self._on_done = on_done
        self._rows = 0

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        try:
            for batch in self._stream.batches():
                self._rows += len(batch)
                yield batch
        finally:
            self._record()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    @property
    def streams_arrow(self) -> bool:
        """Whether the rows come as Arrow record batches (``arrow_batches``): see ``query_for(arrow=)``."""
        return self._stream.streams_arrow

    def arrow_batches(self) -> Iterator[Any]:
        try:
            for batch in self._stream.arrow_batches():
                self._rows += batch.num_rows
                yield batch
        finally:
            self._record()

    def interrupt(self) -> None:
        self._stream.interrupt()

    def arrow(self) -> Any:
        return self._whole(self._stream.arrow())

    def df(self) -> Any:
        return self._whole(self._stream.df())

    def _whole(self, table: Any) -> Any:
        self._rows += len(table)
        self._record()
        return table

    def _record(self) -> None:
        if self._on_done is not None:
            done, self._on_done = self._on_done, None
            done(self._rows)

    def close(self) -> None:
        self._stream.close()
        self._record()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to record into
            pass


class Engine:
    """A policy set in force over a backend (none: rewrite only), with an audit log and result hooks.

    ``result_hooks``: the features that see results (default: those registered with
    :mod:`policyengine.result_hooks`, the egress check among them); each applies only where the
    policy set in force turns it on.
    """

    def __init__(self, policy_set: PolicySet, backend: Backend | None = None, *,
                 audit: AuditLog | None = None, result_hooks: Sequence[ResultHook] | None = None):
        self.policy_set = policy_set
        self.backend = backend
        self.audit = audit
        self.result_hooks: tuple[ResultHook, ...] = registered() if result_hooks is None else tuple(result_hooks)
        #: rewrites by policy set version, subject, environment, dialects, UDF prefix and text
        self._cache: BoundedCache[tuple[Any, ...], Rewritten] = BoundedCache(
            CACHE_SIZE, budget=REWRITES_BUDGET, weigh=lambda key, kept: text_bytes(key, kept.sql, kept.reads))
        #: a reload swaps the set and clears the rewrites as one step against another reload
        self._cache_lock = Lock()
        self._plain_resolver: TableResolver | None = None
        #: the audit line's JSON of a cached rewrite, by the rewrite's id (checked against the rewrite itself)
        self._audit_fragments: BoundedCache[int, tuple[Rewritten, Encoded, Encoded]] = BoundedCache(
            CACHE_SIZE, budget=AUDIT_FRAGMENTS_BUDGET,
            weigh=lambda _, kept: text_bytes(kept[0].sql, kept[1], kept[2]))

    @classmethod
    def load(cls, policies: str | Path = "policies", db: str | Path | None = None, *,
             keys: KeyMaterial | None = None, key_file: str | Path | None = None,
             audit: str | Path | AuditLog | None = None, limits: Limits = DEFAULT_LIMITS) -> Engine:
        """Load and validate the policy set (PolicySetInvalid if it is not valid) and open the database.

        The key for hash, tokenize and encrypt: ``keys``, else :func:`policyengine.crypto.load_key`'s order
        (``POLICYENGINE_KEY``, ``POLICYENGINE_KEY_FILE``, ``key_file``, ``policyengine.key`` beside the
        policy set); none at all is fine until a statement reads a keyed column.
        """
        policy_set = load_policy_set(policies)
        backend = None
        if db is not None:
            backend = DuckDBBackend(db, keys=keys or load_key(key_file, policies=policies), limits=limits)
        log = audit if isinstance(audit, AuditLog) or audit is None else AuditLog(audit)
        return cls(policy_set, backend, audit=log)

    def replace_policy_set(self, policy_set: PolicySet) -> PolicySet:
        """Put a validated set in force (a policy reload) and return the one it replaces.

        One attribute assignment, so every statement sees one set whole: those already rewritten keep
        the old set, the next ones get the new. Cached rewrites are keyed by version and could not be
        served for the new set anyway; they are dropped so the old set's entries do not linger.
        """
        with self._cache_lock:
            previous, self.policy_set = self.policy_set, policy_set
            self._cache.clear()
        return previous

    # --- who -----------------------------------------------------------------------------------

    def subject(self, *, role: str | None = None, roles: Sequence[str] = (), principal: str | None = None) -> Subject:
        names = ([role] if role else []) + list(roles)
        return subject_for(self.policy_set, principal=principal, roles=names)

    # --- rewrite -------------------------------------------------------------------------------

    def _resolver(self, policy_set: PolicySet) -> TableResolver:
        if self.backend is not None:
            return self.backend.resolver(policy_set)
        kept = self._plain_resolver  # the last one (it indexes the set's tables once)
        if kept is None or kept.policy_set is not policy_set:
            kept = self._plain_resolver = TableResolver(policy_set)
        return kept

    def rewrite(self, sql: str, *, role: str | None = None, roles: Sequence[str] = (), principal: str | None = None,
                env: str | None = None, read: str = "duckdb", write: str = "duckdb") -> Rewritten:
        subject = self.subject(role=role, roles=roles, principal=principal)
        return self.rewrite_for(subject, sql, env=env, read=read, write=write)

    def rewrite_for(self, subject: Subject, sql: str, *, env: str | None = None, read: str = "duckdb",
                    write: str = "duckdb", time_zone: str = "UTC") -> Rewritten:
        # One set for the whole rewrite: a reload may swap self.policy_set meanwhile, and a result made
        # with the new set must not be cached under the old set's version (or the other way round).
        policy_set = self.policy_set
        udf_prefix = self.backend.udf_prefix if self.backend is not None else None
        key = (policy_set.version, subject.roles, subject.name, tuple(sorted(subject.attributes.items())),
               env, read, write, udf_prefix, time_zone, sql)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = rewrite(sql, policy_set, subject, env, read=read, write=write,
                         resolver=self._resolver(policy_set), udf_prefix=udf_prefix, time_zone=time_zone)
        self._cache.put(key, result)
        return result

    # --- run -----------------------------------------------------------------------------------

    def query(self, sql: str, *, role: str | None = None, roles: Sequence[str] = (), principal: str | None = None,
              env: str | None = None, read: str = "duckdb", parameters: Parameters = None) -> QueryResult:
        subject = self.subject(role=role, roles=roles, principal=principal)
        return self.query_for(subject, sql, env=env, read=read, parameters=parameters)

    def query_for(self, subject: Subject, sql: str, *, env: str | None = None, read: str = "duckdb",
                  parameters: Parameters = None, on_start: Callable[[Any], None] | None = None,
                  audit_context: dict[str, Any] | None = None,
                  arrow: Callable[[list[str]], bool] | None = None, time_zone: str = "UTC") -> QueryResult:
        """Rewrite, check and run; ``on_start`` gets an object whose ``interrupt()`` cancels the query;
        ``audit_context`` (a front door's session, client...) goes into the statement's audit line;
        ``arrow``: which result types the caller can take as Arrow record batches (the backend may
        ignore it; never when a result hook applies, such as the egress check, which reads rows);
        ``time_zone``: the session's TimeZone (an IANA name), which a statement read as PostgreSQL
        computes local dates and times in."""
        backend = self.backend
        if backend is None:
            raise QueryFailed("no database: load the engine with db=...", "3D000")
        started = time.perf_counter()
        policy_set = self.policy_set
        hooks = [hook for hook in self.result_hooks if hook.applies(policy_set)]
        try:
            environment = environment_for(policy_set, env)
        except DecisionError:
            environment = env
        # the fingerprint (a parse of its own) and the reads are worked out only if a line is written
        entry: dict[str, Any] = {
            "principal": subject.name, "roles": list(subject.roles), "environment": environment,
            "statement": sql, "fingerprint": _Later(lambda: fingerprint(sql, read)), **(audit_context or {}),
        }
        try:
            rewritten = self.rewrite_for(subject, sql, env=env, read=read, write=backend.dialect, time_zone=time_zone)
            self._require_keys(rewritten)
            if arrow is not None and not hooks:
                stream = backend.execute(rewritten, parameters, started=on_start, arrow=arrow)
            else:
                stream = backend.execute(rewritten, parameters, started=on_start)
        except (Refused, QueryFailed) as problem:
            reason = problem.reason if isinstance(problem, Refused) else problem.message
            self._record(entry, started, decision="refused" if isinstance(problem, Refused) else "failed",
                         reason=reason)
            raise
        entry.update(rewritten=_Later(lambda: self._encoded(rewritten)[0]),
                     reads=_Later(lambda: self._encoded(rewritten)[1]))

        def done(rows: int) -> None:
            self._record(entry, started, decision="allowed", rows=rows)

        checked = stream
        if hooks:
            context = ResultContext(policy_set, rewritten, sql, read, self._resolver(policy_set).resolve,
                                    lambda **fields: self._record(entry, started, **fields))
            for hook in hooks:
                checked = hook.wrap(checked, context)
        return QueryResult(stream.columns, stream.types, rewritten, checked, done)

    def _encoded(self, rewritten: Rewritten) -> tuple[Encoded, Encoded]:
        """The audit line's ``rewritten`` and ``reads`` as JSON, encoded once per cached rewrite."""
        kept = self._audit_fragments.get(id(rewritten))
        if kept is None or kept[0] is not rewritten:
            kept = (rewritten, Encoded(json.dumps(rewritten.sql)),
                    Encoded(json.dumps(reads(rewritten.decisions), default=str, separators=(",", ":"))))
            self._audit_fragments.put(id(rewritten), kept)
        return kept[1], kept[2]

    def _require_keys(self, rewritten: Rewritten) -> None:
        """Refuse a statement that reads a keyed column when no key is configured.

        Only the columns the statement can read count: those its wrappers list (every visible one,
        unless the query names each column it reads). A dashboard's ``GROUP BY Location`` over a table
        with a hashed UserID needs no key.
        """
        if self.backend is None or self.backend.has_key:
            return
        listed = rewritten.listed
        for decision in rewritten.decisions:
            for choice in decision.columns:
                if (choice.outcome is Outcome.PROTECTED and choice.protection.kind in KEYED_KINDS
                        and (listed is None or choice.column.name.lower() in listed)):
                    raise Refused(f"column {decision.table_name}.{choice.column.name} is protected by "
                                  f"{choice.protection.kind}, which needs a key: set POLICYENGINE_KEY or "
                                  "POLICYENGINE_KEY_FILE, pass a key file, or run `policyengine keygen --save`")

    def _record(self, entry: dict[str, Any], started: float, **fields: Any) -> None:
        if self.audit is not None:
            for name, value in entry.items():
                if isinstance(value, _Later):
                    entry[name] = value()
            self.audit.record(**entry, **fields, duration_ms=round((time.perf_counter() - started) * 1000, 3))

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
        if self.audit is not None:
            self.audit.close()
