"""The differential fuzzer: generated statements on the front door and on a real PostgreSQL 15.

The demo database is served by the front door (``policyengine serve``'s server, on a thread of the
fuzzer) and copied into PostgreSQL 15 (policyengine/fuzz/postgres_load.py). Each generated statement
(policyengine/fuzz/postgres_queries.py) runs on both through libpq's simple query protocol, on the
front door as a principal who sees every column raw and every row, and the answers must agree
exactly: column names, type OIDs, every value in the text form the server sent, NULLs, and the row
order where the statement orders (as a multiset otherwise).

A statement the front door refuses with a SQLSTATE of :data:`REFUSALS` (not supported, insufficient
privilege) is counted apart, never a difference. Any other divergence is one, classified as
``name``, ``type``, ``value`` or ``error`` (one side failed, or both with different SQLSTATEs) and
reported with the statement and both answers. Statement ``i`` of seed ``s`` is generated from
``Random(f"{s}:{i}")``: ``policyengine fuzz --only postgres --reproduce s:i`` prints it again.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyengine.fuzz.postgres_queries import statement

#: the SQLSTATEs of a refusal (a statement the front door declines to run), not a difference
REFUSALS = frozenset({"0A000", "42501"})
#: type OIDs -> names, for the report
TYPE_NAMES = {16: "bool", 20: "int8", 21: "int2", 23: "int4", 25: "text", 700: "float4", 701: "float8",
              1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz",
              1186: "interval", 1700: "numeric", 1007: "int4[]", 1009: "text[]", 1016: "int8[]", 1231: "numeric[]",
              1000: "bool[]", 1015: "varchar[]", 1182: "date[]", 1115: "timestamp[]", 1022: "float8[]",
              2950: "uuid", 114: "json", 3802: "jsonb", 17: "bytea", 705: "unknown", 2249: "record", 18: "char",
              1042: "bpchar", 26: "oid", 1266: "timetz", 1187: "interval[]", 1021: "float4[]", 1005: "int2[]"}
#: the demo database's size: small enough to run thousands of statements, large enough for groups and joins
USERS, REVIEWS = 200, 600
SHOWN_ROWS = 5


@dataclass
class Answer:
    """One server's answer: columns (name, type OID) and rows of text values, or an error."""

    columns: list[tuple[str, int]] = field(default_factory=list)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)
    sqlstate: str | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.sqlstate is not None

    def show(self) -> dict[str, Any]:
        if self.failed:
            return {"error": self.sqlstate, "message": self.message[:300]}
        return {"columns": [f"{name} {TYPE_NAMES.get(oid, oid)}" for name, oid in self.columns],
                "rows": len(self.rows), "first": [list(row) for row in self.rows[:SHOWN_ROWS]]}


@dataclass
class Difference:
    seed: int
    index: int
    sql: str
    kinds: list[str]  # name / type / value / error
    detail: list[str]
    postgres: Answer
    frontdoor: Answer

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "index": self.index, "kinds": self.kinds, "detail": self.detail, "sql": self.sql,
                "postgres": self.postgres.show(), "frontdoor": self.frontdoor.show()}

    def __str__(self) -> str:
        return (f"[seed {self.seed}, statement {self.index}] {'+'.join(self.kinds)}: {'; '.join(self.detail)}\n"
                f"  {self.sql}\n  postgres:   {self.postgres.show()}\n  front door: {self.frontdoor.show()}")


@dataclass
class PostgresFuzzReport:
    seed: int
    statements: int = 0
    outcomes: Counter = field(default_factory=Counter)  # equal / refused / failed-alike / differs
    kinds: Counter = field(default_factory=Counter)
    failures: list[Difference] = field(default_factory=list)
    postgres_version: str = ""
    #: "SQLSTATE: message" of the front door's refusals, and of PostgreSQL's own errors (the generator's misses)
    refusals: Counter = field(default_factory=Counter)
    postgres_errors: Counter = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {"seed": self.seed, "statements": self.statements, "postgres": self.postgres_version,
                **{f"outcome_{k}": v for k, v in sorted(self.outcomes.items())},
                **{f"kind_{k}": v for k, v in sorted(self.kinds.items())},
                "postgres_failed": sum(self.postgres_errors.values()), "failures": len(self.failures)}


# --- running a statement ---------------------------------------------------------------------------

def execute(pgconn: Any, sql: str) -> Answer:
    """``sql`` by the simple query protocol; values as the server's text, never decoded."""
    from psycopg import pq

    result = pgconn.exec_(sql.encode())
    status = result.status
    if status == pq.ExecStatus.TUPLES_OK:
        columns = [((result.fname(i) or b"").decode(), result.ftype(i)) for i in range(result.nfields)]
        rows = []
        for r in range(result.ntuples):
            rows.append(tuple(None if (v := result.get_value(r, c)) is None else bytes(v).decode("utf-8", "replace")
                              for c in range(result.nfields)))
        return Answer(columns, rows)
    if status == pq.ExecStatus.COMMAND_OK:
        return Answer()
    code = result.error_field(pq.DiagnosticField.SQLSTATE)
    message = (result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or result.error_message or b"").decode(
        "utf-8", "replace")
    return Answer(sqlstate=(code or b"?????").decode(), message=message.strip())


def ordered(sql: str) -> bool:
    """Whether the statement's outermost query orders its rows (the generator orders by every column)."""
    depth, last = 0, -1
    upper = sql.upper()
    for position, char in enumerate(upper):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and upper.startswith(" ORDER BY ", position):
            last = position
    return last >= 0


def _key(row: tuple[str | None, ...]) -> tuple:
    return tuple((value is None, value or "") for value in row)


def _signless(rows: list[tuple[str | None, ...]]) -> list[tuple[str | None, ...]]:
    """The rows with a float's negative zero written as zero (``ORDER BY`` ties the two)."""
    return [tuple("0" if value == "-0" else value for value in row) for row in rows]


def compare(sql: str, postgres: Answer, frontdoor: Answer) -> tuple[str, list[str], list[str]]:
    """(outcome, kinds, details): outcome is equal / refused / failed-alike / differs."""
    if frontdoor.failed and frontdoor.sqlstate in REFUSALS:
        return "refused", [], []
    if postgres.failed or frontdoor.failed:
        if postgres.failed and frontdoor.failed and postgres.sqlstate == frontdoor.sqlstate:
            return "failed-alike", [], []
        if postgres.failed and frontdoor.failed:
            detail = f"both fail: postgres {postgres.sqlstate}, front door {frontdoor.sqlstate}"
        elif postgres.failed:
            detail = f"front door answers where postgres fails ({postgres.sqlstate}: {postgres.message[:80]})"
        else:
            detail = f"front door fails ({frontdoor.sqlstate}: {frontdoor.message[:120]})"
        return "differs", ["error"], [detail]
    kinds: list[str] = []
    details: list[str] = []
    if len(postgres.columns) != len(frontdoor.columns):
        return "differs", ["name"], [f"{len(postgres.columns)} columns, front door {len(frontdoor.columns)}"]
    for position, ((pname, ptype), (fname, ftype)) in enumerate(zip(postgres.columns, frontdoor.columns), 1):
        if pname != fname:
            kinds.append("name")
            details.append(f"column {position} named {pname!r}, front door {fname!r}")
        if ptype != ftype:
            kinds.append("type")
            details.append(f"column {position} {TYPE_NAMES.get(ptype, ptype)}, front door "
                           f"{TYPE_NAMES.get(ftype, ftype)}")
    left, right = postgres.rows, frontdoor.rows
    is_ordered = ordered(sql)
    if not is_ordered:
        left, right = sorted(left, key=_key), sorted(right, key=_key)
    elif left != right and _signless(left) == _signless(right):
        left = right  # -0 and 0 of a float sort as equals: which one a LIMIT keeps is either server's choice
    if left != right:
        kinds.append("value")
        if len(left) != len(right):
            details.append(f"{len(left)} rows, front door {len(right)}")
        for row, (a, b) in enumerate(zip(left, right)):
            if a != b:
                cells = [f"column {c + 1}: {x!r} vs {y!r}" for c, (x, y) in enumerate(zip(a, b)) if x != y]
                details.append(f"{'row' if is_ordered else 'sorted row'} {row + 1}: " + ", ".join(cells[:3]))
                break
    if not kinds:
        return "equal", [], []
    return "differs", sorted(set(kinds), key=["name", "type", "value", "error"].index), details


# --- the two servers -------------------------------------------------------------------------------

@contextmanager
def frontdoor_server(policies: Path, database: Path, folder: Path, principal: str, password: str) -> Iterator[int]:
    """The front door on ``database``, on a thread of this process: its port."""
    from policyengine import crypto
    from policyengine.engine import Engine
    from policyengine.server.server import Server
    from policyengine.server.users import load_users, set_password

    users_file = folder / "users.yaml"
    set_password(users_file, principal, password)
    engine = Engine.load(policies, database, keys=crypto.parse_key(secrets.token_hex(16)))
    server = Server(engine, load_users(users_file), watch_interval=None)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    serving: list[asyncio.Task] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(server.serve("127.0.0.1", 0, started=lambda p: (port.append(p), started.set())))
        serving.append(task)
        try:
            loop.run_until_complete(task)
        except (RuntimeError, asyncio.CancelledError):  # cancelled when the run is over
            pass
        finally:  # end the sessions still open, then the loop
            pending = asyncio.all_tasks(loop)
            for other in pending:
                other.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=run, daemon=True, name="frontdoor")
    thread.start()
    try:
        if not started.wait(60):
            raise RuntimeError("the front door did not start within 60 s")
        yield port[0]
    finally:
        if serving:
            loop.call_soon_threadsafe(serving[0].cancel)
        thread.join(10)
        engine.close()


def all_clear_principal(policies: Path) -> str:
    """The first principal (by name) who sees every column raw and every row of every table."""
    from policyengine.decision import subject_for
    from policyengine.fuzz.run import Who, all_clear
    from policyengine.loading import load_policy_set

    policy_set = load_policy_set(policies)
    for env in [None, *policy_set.settings.environments]:
        for name in sorted(policy_set.principals):
            if all_clear(policy_set, Who(name, subject_for(policy_set, principal=name), env)):
                return name
    raise ValueError(f"no principal of {policies} sees every column raw and every row: the differential "
                     "fuzzer needs one")


@contextmanager
def postgres_database(dsn: str | None) -> Iterator[tuple[str, str]]:
    """(connection string, server version) of the PostgreSQL 15 to load into: ``dsn`` as given, or a
    database ``demo`` on a throwaway cluster started here."""
    from policyengine.fuzz import postgres_load

    if dsn is not None:
        yield dsn, ""
        return
    reason = postgres_load.missing()
    if reason is not None:
        raise RuntimeError(f"cannot start PostgreSQL 15 ({reason}); or pass --postgres DSN")
    started = postgres_load.throwaway()
    server = next(started)
    try:
        yield server.create_database("demo"), server.version
    finally:
        started.close()


def run(statements: int, seed: int, *, policies: Path = Path("policies"), postgres: str | None = None,
        progress: Callable[[int, int], None] | None = None, workdir: Path | None = None,
        stop_after: int | None = None) -> PostgresFuzzReport:
    """Run ``statements`` generated statements on both servers; ``postgres``: a PostgreSQL 15 connection
    string to load the tables into (default: a throwaway cluster, from a clone with PostgreSQL 15 installed)."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("the differential fuzzer needs psycopg 3: pip install 'psycopg[binary]'") from None
    from policyengine.demo.data import build_demo_database
    from policyengine.fuzz import postgres_load

    report = PostgresFuzzReport(seed)
    principal = all_clear_principal(policies)
    password = secrets.token_urlsafe(16)
    folder = Path(tempfile.mkdtemp(prefix="pe-pgdiff-", dir=workdir))
    try:
        database = folder / "demo.duckdb"
        build_demo_database(database, users=USERS, reviews=REVIEWS)
        with postgres_database(postgres) as (dsn, version), psycopg.connect(dsn, autocommit=True) as pg:
            postgres_load.apply_settings(pg)
            report.postgres_version = version or pg.execute("SHOW server_version").fetchone()[0]
            if not report.postgres_version.startswith("15"):
                raise RuntimeError(f"the oracle must be PostgreSQL 15, not {report.postgres_version}")
            postgres_load.load(pg, database)  # before the engine opens the file: DuckDB takes one configuration
            with frontdoor_server(policies, database, folder, principal, password) as port:
                pg.execute("SET statement_timeout = '20s'")
                door_dsn = (f"host=127.0.0.1 port={port} user={principal} password={password} dbname=demo "
                            "sslmode=disable")
                door = psycopg.connect(door_dsn, autocommit=True)
                try:
                    for index in range(statements):
                        sql = statement(seed, index)
                        expected = execute(pg.pgconn, sql)
                        try:
                            got = execute(door.pgconn, sql)
                        except Exception as error:  # noqa: BLE001  # the connection broke: a difference too
                            got = Answer(sqlstate="08006", message=f"connection lost: {error}")
                        if door.pgconn.status != psycopg.pq.ConnStatus.OK:
                            got = Answer(sqlstate="08006", message="the front door closed the connection")
                            door.close()
                            door = psycopg.connect(door_dsn, autocommit=True)
                        outcome, kinds, details = compare(sql, expected, got)
                        if expected.failed:
                            report.postgres_errors[f"{expected.sqlstate}: {expected.message[:60]}"] += 1
                        if outcome == "refused":
                            report.refusals[f"{got.sqlstate}: {got.message[:60]}"] += 1
                        report.outcomes[outcome] += 1
                        report.statements += 1
                        if outcome == "differs":
                            report.kinds.update(kinds)
                            report.failures.append(Difference(seed, index, sql, kinds, details, expected, got))
                        if progress is not None:
                            progress(index + 1, statements)
                        if stop_after is not None and len(report.failures) >= stop_after:
                            break
                finally:
                    door.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def reproduce(seed: int, index: int) -> str:
    return statement(seed, index)
