"""``python -m benchmarks soak [--clients 20] [--minutes 10] [--format table|json]``: the front door under
mixed load for minutes, then idle: does it make errors, and does it give back what it took?

It starts ``policyengine serve`` (its own process, as users start it) over the demo database and the
example policy set, and runs ``--clients`` threads, each with its own connection as one of several
principals (``frank`` sees everything raw; ``bob`` and ``carol`` are masked and row-filtered;
``dave`` is masked otherwise). Each picks its next piece of work at random:

- a generated statement (``policyengine.fuzz.postgres_queries``: every one a new text, so whatever the
  server keeps per statement text sees thousands of them), over the extended or the simple protocol,
  sometimes with binary results;
- a catalog statement that BI tools send (``/work/shared/clients/bi/*.sql``, or ``PE_BI_CORPUS``), the same
  text again or made distinct by a comment (as pgjdbc's ``getColumns`` differs by its table name);
- a server-side cursor (``DECLARE ... CURSOR``, ``FETCH``, ``CLOSE`` in a transaction);
- ``COPY (...) TO STDOUT``;
- a prepared statement with parameters (psycopg's ``prepare=True``: Parse once, Bind many);
- a cancel: an endless join, interrupted from another thread (``connection.cancel_safe()``);
- a reconnect (a new login, possibly as another principal).

An answer the workload expects is not an error: 57014 for the statement that was cancelled, and a
refusal the statement itself earns (0A000 unsupported, 42501 what the policy forbids, class 22 a
data exception PostgreSQL raises as well, 54000 a statement over a limit); those are counted apart.
Anything else (another SQLSTATE, a lost connection, a wrong row count) is an error.

The server's resident memory (``/proc/PID/status`` VmRSS) is sampled every half second. The warm
baseline is read after a warm-up (a tenth of the run, at least 20 s, the same mix) and an idle settle;
the peak during the load; ``after`` at the end of the same settle once the load stops. The run fails
(exit 1) on any error or when ``after`` exceeds 1.2 x the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PE_BI_CORPUS", ROOT.parent / "shared" / "clients" / "bi"))
#: principal -> password; frank: admin, all raw; bob, carol: bi_analyst (tokenized, generalized,
#: rows of their region); dave: data_scientist
PRINCIPALS = {"frank": "frank-soak-1", "bob": "bob-soak-1", "carol": "carol-soak-1", "dave": "dave-soak-1"}
#: SQLSTATEs a statement earns by itself: not the server's failure
REFUSALS = ("0A000", "42501")
#: the work and how often each is picked
WORK = {"query": 34, "catalog": 20, "cursor": 10, "copy": 8, "prepared": 16, "cancel": 4, "reconnect": 3,
        "fetch": 5}
#: an endless statement for the cancels: a triple self-join no plan finishes in seconds (on text, so
#: that no column statistics can prove the condition false and skip the work)
ENDLESS = ('SELECT count(*) FROM reviews a CROSS JOIN reviews b CROSS JOIN reviews c '
           'WHERE a."ReviewID" || b."ReviewID" || c."ReviewID" = \'{n}\'')
#: SQLSTATE classes a generated statement can earn by itself (its own syntax, types or values: 42, 22):
#: the differential fuzzer judges those answers against PostgreSQL's; the soak judges the serving
GENERATED_OWN = ("22", "42")
RATIO = 1.2
#: catalog statements that drop the session's prepared statements
RESETS = re.compile(r"\bDISCARD\s+ALL\b|\bDEALLOCATE\b", re.IGNORECASE)


# --- the BI corpus ------------------------------------------------------------------------------------

@dataclass
class CatalogStatement:
    name: str
    sql: str
    parameters: list[str | None] = field(default_factory=list)
    #: sent by the extended protocol (Parse/Bind/Execute), else as a simple query
    extended: bool = True


def bi_corpus(folder: Path = CORPUS) -> list[CatalogStatement]:
    """Its statements (README's format: ``-- source:`` ... up to a line that is only ``;``) with the
    example parameter values their notes give (``$1 = 'public'``); none when the folder is absent."""
    out: list[CatalogStatement] = []
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        note, body, inside = "", [], False
        for line in path.read_text().splitlines():
            if not inside:
                if line.startswith("-- source:"):
                    inside, note, body = True, "", []
                continue
            if not body and line.startswith("--"):
                note += line
            elif line == ";":
                sql = "\n".join(body).rstrip()
                count = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
                given = dict(re.findall(r"\$(\d+) = '([^']*)'", note))
                out.append(CatalogStatement(f"{path.stem}-{len(out)}", sql,
                                            [given.get(str(i + 1), "public") for i in range(count)]))
                inside = False
            else:
                body.append(line)
    return out


def usable(port: int, corpus: list[CatalogStatement], broke: list[str] | None = None) -> list[CatalogStatement]:
    """The corpus's statements, by each protocol, that run here as ``frank`` and as ``bob`` and leave
    the session idle. The corpus was gathered against another database (its ``orders`` and
    ``customers``), and some of it is refused or sent as several statements at once, which only the
    simple protocol takes: whether each is answered rightly is the BI corpus test's question; the
    soak repeats what works. A statement after which the connection is gone is named in ``broke``."""
    import psycopg
    from psycopg import pq

    def connect(name: str) -> Any:
        return psycopg.connect(host="127.0.0.1", port=port, user=name, password=PRINCIPALS[name], dbname="demo",
                               sslmode="disable", autocommit=True)

    kept: list[CatalogStatement] = []
    names = ("frank", "bob")
    connections = [connect(name) for name in names]
    try:
        for statement in corpus:
            for extended in (True, False) if not statement.parameters else (True,):
                works = True
                for index, name in enumerate(names):
                    pgconn = connections[index].pgconn
                    try:
                        if extended:
                            result = pgconn.exec_params(statement.sql.encode(), [
                                v.encode() if v is not None else None for v in statement.parameters])
                        else:
                            result = pgconn.exec_(statement.sql.encode())
                        works = works and result.status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK,
                                                            pq.ExecStatus.EMPTY_QUERY)
                        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
                            pgconn.exec_(b"ROLLBACK")
                            works = False
                    except psycopg.OperationalError:
                        works = False
                    if pgconn.status != pq.ConnStatus.OK:  # the server ended the session (a FATAL error)
                        if broke is not None:
                            broke.append(f"{statement.name} ({'extended' if extended else 'simple'}, {name})")
                        connections[index].close()
                        connections[index] = connect(name)
                if works:
                    kept.append(CatalogStatement(statement.name, statement.sql, statement.parameters, extended))
    finally:
        for connection in connections:
            connection.close()
    return kept


# --- the tallies --------------------------------------------------------------------------------------

class Tally:
    """Statements run, expected refusals and errors, by kind of work; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statements: Counter[str] = Counter()
        self.expected: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.samples: dict[str, str] = {}

    def ran(self, work: str, count: int = 1) -> None:
        with self._lock:
            self.statements[work] += count

    def refused(self, work: str, sqlstate: str) -> None:
        with self._lock:
            self.expected[f"{work} {sqlstate}"] += 1

    def error(self, work: str, kind: str, message: str) -> None:
        key = f"{work} {kind}"
        with self._lock:
            self.errors[key] += 1
            self.samples.setdefault(key, message[:500])

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"statements": sum(self.statements.values()), "by_work": dict(self.statements),
                    "errors": sum(self.errors.values()), "errors_by_kind": dict(self.errors),
                    "error_samples": dict(self.samples), "expected": dict(self.expected)}


# --- the clients ------------------------------------------------------------------------------------

class Client(threading.Thread):
    """One connection at a time, picking its work at random until ``stop`` is set."""

    def __init__(self, index: int, port: int, stop: threading.Event, tally: Tally, seed: int,
                 corpus: list[CatalogStatement]):
        super().__init__(name=f"soak-client-{index}", daemon=True)
        from policyengine.fuzz.postgres_queries import PostgresQueryGenerator

        self.index, self.port, self.stop, self.tally, self.corpus = index, port, stop, tally, corpus
        self.rng = random.Random(f"{seed}:{index}")
        self.seed = seed
        self.generator = PostgresQueryGenerator
        self.made = 0  # statements generated so far: statement i of this client is Random(seed:index:i)
        self.connection: Any = None
        self.generated = False  # the statement at work is a generated one
        self.last = ""
        self.principal = ""
        self.work = [name for name in WORK if name != "catalog" or corpus]
        self.weights = [WORK[name] for name in self.work]

    # the connection
    def connect(self) -> None:
        import psycopg

        self.close()
        self.principal = self.rng.choice(list(PRINCIPALS))
        self.connection = psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.principal, password=PRINCIPALS[self.principal],
            dbname="demo", sslmode="disable", autocommit=True, application_name=f"soak-{self.index}",
            connect_timeout=30)
        self.tally.ran("login")

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001 - a broken connection is replaced either way
                pass
            self.connection = None

    def statement(self) -> str:
        from policyengine.fuzz.postgres_queries import PostgresQueryGenerator

        self.made += 1
        self.generated = True
        return PostgresQueryGenerator(random.Random(f"{self.seed}:{self.index}:{self.made}")).statement()

    def run(self) -> None:
        while not self.stop.is_set():
            work = self.rng.choices(self.work, self.weights)[0]
            self.generated = False
            try:
                if self.connection is None or self.connection.closed:
                    self.connect()
                getattr(self, f"_{work}")()
            except Exception as error:  # noqa: BLE001 - every failure is counted, the client goes on
                self.failed(work, error)
        self.close()

    def failed(self, work: str, error: BaseException) -> None:
        import psycopg

        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(error, psycopg.Error) and sqlstate:
            if sqlstate in REFUSALS or (self.generated and sqlstate[:2] in GENERATED_OWN):
                self.tally.refused(work, sqlstate)
                return
            if sqlstate == "57014" and work == "cancel":
                self.tally.refused(work, sqlstate)
                return
            self.tally.error(work, sqlstate, f"{error} [{getattr(self, 'last', '')[:300]}]")
            return
        if self.stop.is_set() and isinstance(error, psycopg.OperationalError):
            return  # the run ended while this client was connecting
        if self.generated and isinstance(error, psycopg.DataError):
            # psycopg cannot hold the value PostgreSQL would send too (an interval of 2**31 days is no
            # timedelta): the client's limit, not the server's failure
            self.tally.refused(work, "client cannot decode")
            return
        self.tally.error(work, type(error).__name__, str(error))
        self.close()  # a connection error: start afresh

    # the work
    def _query(self) -> None:
        import psycopg

        sql = self.last = self.statement()
        kind = self.rng.random()
        if kind < 0.3:  # the simple query protocol
            cursor = psycopg.ClientCursor(self.connection)
        else:
            cursor = self.connection.cursor(binary=kind > 0.85)
        with cursor:
            cursor.execute(sql, prepare=False)
            cursor.fetchall()
        self.tally.ran("query")

    def _fetch(self) -> None:
        # a larger answer, streamed: masked rows through the per-value encoders or Arrow
        limit = self.rng.choice((100, 1000, 5000))
        with self.connection.cursor(binary=self.rng.random() < 0.3) as cursor:
            self.last = f"SELECT * FROM reviews WHERE \"Rating\" >= {self.rng.randint(1, 5)} LIMIT {limit}"
            cursor.execute(self.last)
            cursor.fetchall()
        self.tally.ran("fetch")

    def _catalog(self) -> None:
        statement = self.rng.choice(self.corpus)
        sql = statement.sql
        if self.rng.random() < 0.5:  # a new text, as a tool sends for each table it looks at
            self.made += 1
            sql = f"/* soak {self.index}.{self.made} */ {sql}"
        self.last = sql
        pgconn = self.connection.pgconn
        if statement.extended:
            result = pgconn.exec_params(sql.encode(), [v.encode() if v is not None else None
                                                        for v in statement.parameters])
        else:
            result = pgconn.exec_(sql.encode())
        self._check(result, "catalog")
        self.tally.ran("catalog")
        if RESETS.search(sql):
            # Npgsql's DISCARD ALL (psqlODBC's DEALLOCATE) drops the session's prepared statements, as in
            # PostgreSQL, behind psycopg's back: its cache would name statements that are gone (26000)
            self.connect()

    def _check(self, result: Any, work: str) -> None:
        import psycopg
        from psycopg import pq

        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.lookup(
                (result.error_field(pq.DiagnosticField.SQLSTATE) or b"XX000").decode()
            )((result.error_message or b"").decode(errors="replace"))
        if self.connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            self.connection.pgconn.exec_(b"ROLLBACK")  # a tool's BEGIN

    def _cursor(self) -> None:
        sql = self.last = self.statement() if self.rng.random() < 0.6 else \
            f'SELECT * FROM reviews WHERE "Rating" >= {self.rng.randint(1, 5)}'
        name = f"c{self.rng.randint(0, 1 << 30)}"
        with self.connection.transaction(), self.connection.cursor(name=name) as cursor:
            cursor.execute(sql)
            for _ in range(self.rng.randint(1, 4)):
                if not cursor.fetchmany(self.rng.choice((1, 50, 500))):
                    break
        self.tally.ran("cursor")

    def _copy(self) -> None:
        query = self.statement() if self.rng.random() < 0.5 else \
            f'SELECT * FROM reviews WHERE "Rating" <= {self.rng.randint(1, 5)} LIMIT {self.rng.randint(1, 3000)}'
        form = self.rng.choice(("", " (FORMAT csv)", " (FORMAT csv, HEADER)"))
        sql = self.last = f"COPY ({query}) TO STDOUT{form}"
        size = 0
        with self.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for chunk in copy:
                size += len(chunk)
        self.tally.ran("copy")

    def _prepared(self) -> None:
        shape = self.rng.randint(0, 3)
        bound = self.rng.randint(0, 40)  # a few dozen texts per shape: psycopg's cache keeps and deallocates
        if shape == 0:
            sql = f'SELECT * FROM reviews WHERE "ReviewID" = %s AND "Rating" >= {bound % 5}'
            values: list[Any] = [f"R{self.rng.randint(1, 20000):07d}"]
        elif shape == 1:
            sql = f'SELECT "ProductID", count(*), avg("Rating"::float8) FROM reviews WHERE "Rating" >= %s ' \
                  f'GROUP BY "ProductID" ORDER BY 2 DESC LIMIT {bound + 1}'
            values = [self.rng.randint(1, 5)]
        elif shape == 2:
            sql = f'SELECT "Country", count(*) FROM user_demographics WHERE "Country" <> %s ' \
                  f'GROUP BY 1 ORDER BY 1 LIMIT {bound + 1}'
            values = [self.rng.choice(("IT", "DE", "US"))]
        else:
            sql = f'SELECT "UserID", "Rating" FROM reviews WHERE "Rating" BETWEEN %s AND %s LIMIT {bound + 10}'
            values = [1, self.rng.randint(1, 5)]
        self.last = sql
        with self.connection.cursor() as cursor:
            for _ in range(self.rng.randint(1, 3)):
                cursor.execute(sql, values, prepare=True)
                cursor.fetchall()
        self.tally.ran("prepared")

    def _cancel(self) -> None:
        import psycopg

        connection = self.connection
        self.made += 1
        sql = self.last = ENDLESS.format(n=self.made)
        timer = threading.Timer(self.rng.uniform(0.05, 0.6), connection.cancel_safe)
        timer.start()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchall()
        except psycopg.errors.QueryCanceled:
            self.tally.ran("cancel")
            return
        finally:
            timer.cancel()
            timer.join()
        raise RuntimeError("the endless statement finished before its cancel")

    def _reconnect(self) -> None:
        self.connect()


# --- the run ------------------------------------------------------------------------------------------

def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and its parts (RssAnon: what the process allocated; RssFile: the pages of its libraries'
    code and data it has touched, clean and shared) in MB, from /proc (Linux); empty if gone."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float | None:
    return status_mb(pid).get("VmRSS")


class Sampler(threading.Thread):
    """VmRSS of ``pid`` every half second, with the phase it was read in."""

    def __init__(self, pid: int):
        super().__init__(name="soak-rss", daemon=True)
        self.pid = pid
        self.phase = "start"
        self.samples: list[tuple[float, str, float]] = []
        self._halt = threading.Event()
        self.begun = time.monotonic()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.read()

    def read(self) -> float | None:
        value = rss_mb(self.pid)
        if value is not None:
            self.samples.append((time.monotonic() - self.begun, self.phase, value))
        return value

    def peak(self, phase: str) -> float:
        return max((v for _, p, v in self.samples if p == phase), default=float("nan"))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _phase(clients: int, port: int, seconds: float, tally: Tally, seed: int, corpus: list[CatalogStatement],
           say: Any) -> None:
    stop = threading.Event()
    threads = [Client(i, port, stop, tally, seed, corpus) for i in range(clients)]
    for thread in threads:
        thread.start()
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        time.sleep(min(10.0, max(0.0, ends - time.monotonic())))
        say(tally)
    stop.set()
    for thread in threads:
        thread.join(120)
        if thread.is_alive():
            tally.error("client", "stuck", f"{thread.name} did not finish its statement within 120 s")


def _settle(sampler: Sampler, seconds: float) -> tuple[float, dict[str, float]]:
    """Idle for ``seconds``; RSS at the end (the median of the last five samples), and its parts."""
    time.sleep(seconds)
    last = [sampler.read() for _ in range(5) if time.sleep(0.2) is None]
    last = sorted(v for v in last if v is not None)
    return last[len(last) // 2], status_mb(sampler.pid)


def run(clients: int = 20, seconds: float = 600, *, warmup: float | None = None, settle: float = 30,
        seed: int = 17, reviews: int = 20000, users: int = 2000, say: Any = None) -> dict[str, Any]:
    """The soak; its figures (see the module's docstring)."""
    from benchmarks.frontdoor import FrontDoor
    from policyengine.demo.data import build_demo_database
    from policyengine.server.users import set_password

    say = say or (lambda *_: None)
    warmup = max(20.0, seconds / 10) if warmup is None else warmup
    corpus = bi_corpus()
    results: dict[str, Any] = {"clients": clients, "seconds": seconds, "warmup_seconds": warmup,
                               "settle_seconds": settle, "seed": seed, "reviews": reviews,
                               "catalog_statements": len(corpus)}
    with tempfile.TemporaryDirectory(prefix="pe-soak-") as scratch:
        folder = Path(scratch)
        policies = folder / "policies"
        shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("tests", "*.pyc"))
        database = folder / "demo.duckdb"
        build_demo_database(database, users=users, reviews=reviews)
        door = FrontDoor(folder, database, policies)
        for name, password in PRINCIPALS.items():
            set_password(door.users_file, name, password)
        door.start()
        sampler = Sampler(door.process.pid)
        sampler.start()
        try:
            results["started_mb"] = sampler.read()
            broke: list[str] = []
            corpus = usable(door.port, corpus, broke)
            results["catalog_statements_used"] = len(corpus)
            results["catalog_statements_closing_the_connection"] = broke
            warm = Tally()
            sampler.phase = "warm-up"
            _phase(clients, door.port, warmup, warm, seed + 1, corpus, lambda t: say("warm-up", t))
            sampler.phase = "baseline"
            baseline, baseline_parts = _settle(sampler, settle)
            tally = Tally()
            sampler.phase = "load"
            begun = time.monotonic()
            _phase(clients, door.port, seconds, tally, seed, corpus, lambda t: say("load", t))
            results["load_seconds"] = time.monotonic() - begun
            sampler.phase = "settle"
            after, after_parts = _settle(sampler, settle)
            alive = door.process.poll() is None
        finally:
            try:
                sampler.stop()
            finally:
                door.stop()  # never left running, whatever failed
    peak = max(sampler.peak("load"), sampler.peak("warm-up"))
    results["warmup"] = warm.as_dict()
    results.update(tally.as_dict())
    if not alive:
        results["errors"] += 1
        results["errors_by_kind"]["server exited"] = 1
    results["memory_mb"] = {"baseline": round(baseline, 1), "peak": round(peak, 1), "after": round(after, 1),
                            "ratio": round(after / baseline, 3),
                            "baseline_parts": {k: round(v, 1) for k, v in baseline_parts.items()},
                            "after_parts": {k: round(v, 1) for k, v in after_parts.items()}}
    results["rss_samples"] = [(round(t, 1), p, round(v, 1)) for t, p, v in sampler.samples]
    results["passed"] = results["errors"] == 0 and results["warmup"]["errors"] == 0 and after <= RATIO * baseline
    return results


def table(results: dict[str, Any]) -> str:
    memory = results["memory_mb"]
    lines = [f"clients {results['clients']}, load {results.get('load_seconds', results['seconds']):.0f} s "
             f"(warm-up {results['warmup_seconds']:.0f} s, settle {results['settle_seconds']:.0f} s)",
             f"statements {results['statements']:,} "
             f"({', '.join(f'{k} {v:,}' for k, v in sorted(results['by_work'].items()))})",
             f"expected refusals {sum(results['expected'].values()):,} "
             f"({', '.join(f'{k} {v:,}' for k, v in sorted(results['expected'].items()))})",
             f"errors {results['errors']} (warm-up {results['warmup']['errors']})"]
    for kind, count in sorted({**results["warmup"]["errors_by_kind"], **results["errors_by_kind"]}.items()):
        sample = results["error_samples"].get(kind) or results["warmup"]["error_samples"].get(kind, "")
        lines.append(f"  {kind}: {count}: {sample}")
    lines.append(f"memory (MB): baseline {memory['baseline']}, peak {memory['peak']}, after {memory['after']}, "
                 f"ratio {memory['ratio']} (limit {RATIO})")
    parts = [f"{key} {memory['baseline_parts'].get(key, 0):.0f} -> {memory['after_parts'].get(key, 0):.0f}"
             for key in ("RssAnon", "RssFile")]
    lines.append(f"  of which {', '.join(parts)}")
    lines.append("PASSED" if results["passed"] else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default: a tenth of the run, >= 20)")
    parser.add_argument("--settle", type=float, default=30, help="idle seconds before each memory reading")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--samples", action="store_true", help="json: keep every RSS sample")
    args = parser.parse_args(argv)

    def say(phase: str, tally: Tally) -> None:
        figures = tally.as_dict()
        print(f"[{phase}] statements {figures['statements']:,}, errors {figures['errors']}", file=sys.stderr,
              flush=True)

    results = run(args.clients, args.minutes * 60, warmup=args.warmup, settle=args.settle, seed=args.seed, say=say)
    if args.format == "json":
        if not args.samples:
            results.pop("rss_samples")
        print(json.dumps(results, indent=1))
    else:
        print(table(results))
    return 0 if results["passed"] else 1
