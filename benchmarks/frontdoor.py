"""Rows per second and pgbench transactions per second through the front door, against PostgreSQL 15.

One run builds the demo database (its ``reviews`` table at benchmark size), loads the same rows into a
real PostgreSQL 15 (Debian's ``postgresql`` package, started here on loopback and removed afterwards),
starts the front door (``policyengine.server``) in its own process, and measures both with the same
clients:

- a whole-table fetch (``SELECT * FROM reviews``) with psycopg 3: rows decoded into Python tuples
  (``fetchall``), and the same statement through psycopg's libpq layer with no row decoding, which
  shows the servers rather than the client; as the PostgreSQL table owner, as a front-door principal
  who sees everything raw (``frank``, admin) and as a masked one (``bob``, bi_analyst);
- pgbench point queries (``WHERE "ReviewID" = ...`` on a random id), ``-M simple`` and ``-M
  extended`` on open connections, and ``-M simple -C`` (a new connection, so a SCRAM login, per
  transaction).

Both servers authenticate with SCRAM-SHA-256 and serve text results over TCP on 127.0.0.1 without TLS.
The front door writes its audit log, as ``policyengine serve`` does. Figures are ratios against
PostgreSQL in the same run, not asserts.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("PE_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
KEY_HEX = "66726f6e7420646f6f722062656e6368"
DATABASE = "demo"
PG_USER = "bench"
PASSWORDS = {PG_USER: "bench-pass-1", "frank": "frank-pass-1", "bob": "bob-pass-1"}
#: front-door principals measured, and what they see of the reviews table (policies/roles.yaml)
PRINCIPALS = {"frank": "admin: all raw", "bob": "bi_analyst: UserID tokenized, ReviewText and CreatedAt generalized"}
TABLE = "reviews"
STREAM_COLUMNS = ("ReviewID", "Rating")
FETCH = f"SELECT * FROM {TABLE}"
#: review ids are R0000001, R0000002, ... (policyengine.demo.data)
POINT = ("\\set id random(1, {rows})\n"
         f"SELECT * FROM {TABLE} WHERE \"ReviewID\" = 'R' || lpad(:id::text, 7, '0');\n")
#: the DuckDB table's columns with PostgreSQL's types for DuckDB's (VARCHAR travels as text, OID 25)
PG_COLUMNS = {"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "TIMESTAMP": "timestamp",
              "DATE": "date", "BOOLEAN": "boolean", "DOUBLE": "double precision"}
PGBENCH_RUNS = (("simple", False), ("extended", False), ("simple", True))  # (mode, new connection per transaction)


# --- helpers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing() -> str | None:
    """Why the benchmark cannot run here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres", "pgbench"):
        if not (PG_BIN / tool).exists():
            return f"needs PostgreSQL 15 ({PG_BIN / tool} not found): apt-get install postgresql"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux) to start PostgreSQL as the postgres user"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs the postgres user (created by Debian's postgresql package)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs psycopg 3: pip install 'psycopg[binary]'"
    return None


def dsn(port: int, user: str) -> str:
    return f"host=127.0.0.1 port={port} user={user} password={PASSWORDS[user]} dbname={DATABASE} sslmode=disable"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in kB (Linux), or empty."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


# --- PostgreSQL 15 -------------------------------------------------------------------------------

class PostgreSQL:
    """A throwaway cluster in ``folder`` on a loopback port; as the postgres user when run as root."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.sockets = folder / "sockets"
        self.log = folder / "postgresql.log"
        self.port = free_port()
        self.started = False
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, check=False, cwd=self.folder, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "LC_ALL": "C"})
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(command[-1] if self.as_postgres else command[0]).name} failed: "
                               f"{(result.stdout + result.stderr)[-2000:]}{log}")
        return result

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir()
        password_file = self.folder / "password"
        password_file.write_text(PASSWORDS[PG_USER] + "\n")
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            for path in (self.sockets, password_file):
                shutil.chown(path, "postgres", "postgres")
        self.folder.chmod(0o700)
        password_file.chmod(0o600)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", PG_USER, f"--pwfile={password_file}", "-E", "UTF8",
                  "--locale=C", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-sync")
        password_file.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# policyengine front-door benchmark\n"
                       f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.sockets}'\n"
                       "password_encryption = 'scram-sha-256'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.started = True  # from here on, stop() is owed even if the start fails half-way
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: end the postmaster we started, by its pid
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
                except (ValueError, ProcessLookupError, PermissionError):
                    pass


# --- the data ------------------------------------------------------------------------------------

def build_data(folder: Path, reviews: int, users: int) -> tuple[Path, Path, list[tuple[str, str]]]:
    """The demo database, the reviews table as CSV, and its (column, DuckDB type) list."""
    import duckdb

    from policyengine.demo.data import build_demo_database

    database = folder / "demo.duckdb"
    build_demo_database(database, users=users, reviews=reviews)
    csv = folder / f"{TABLE}.csv"
    with duckdb.connect(str(database), read_only=True) as con:
        columns = [(name, kind) for name, kind in
                   con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                               f"WHERE table_name = '{TABLE}' ORDER BY ordinal_position").fetchall()]
        con.execute(f"COPY {TABLE} TO '{csv}' (FORMAT csv, HEADER false)")
    return database, csv, columns


def load_postgres(port: int, csv: Path, columns: list[tuple[str, str]]) -> str:
    """The same table in PostgreSQL (same column names and wire types, same primary key); its version."""
    import psycopg

    with psycopg.connect(dsn(port, PG_USER).replace(f"dbname={DATABASE}", "dbname=postgres"),
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
        hashed = connection.execute(f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                                    f"WHERE rolname = '{PG_USER}'").fetchone()[0]
        if not hashed:
            raise RuntimeError("PostgreSQL did not store a SCRAM verifier")
    body = ", ".join(f'"{name}" {PG_COLUMNS.get(kind, "text")}' for name, kind in columns)
    with psycopg.connect(dsn(port, PG_USER), autocommit=True) as connection:
        connection.execute(f'CREATE TABLE {TABLE} ({body}, PRIMARY KEY ("{columns[0][0]}"))')
        with connection.cursor().copy(f"COPY {TABLE} FROM STDIN (FORMAT csv)") as copy, csv.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                copy.write(chunk)
        connection.execute(f"VACUUM ANALYZE {TABLE}")
        return connection.execute("SHOW server_version").fetchone()[0]


def fingerprint_query(columns: list[tuple[str, str]]) -> str:
    """Counts and sums that must agree between the two copies of the table."""
    text = [name for name, kind in columns if kind == "VARCHAR"]
    parts = ["count(*)"] + [f'sum(length("{name}"))' for name in text] + \
            [f'count("{name}")' for name, _ in columns]
    ints = [name for name, kind in columns if kind in ("INTEGER", "BIGINT")]
    parts += [f'sum("{name}")' for name in ints]
    return f"SELECT {', '.join(parts)} FROM {TABLE}"


# --- the front door, in its own process ------------------------------------------------------------

def serve(policies: str, database: str, users_file: str, audit: str) -> None:
    """Child process: the front door on a free loopback port, printed on stdout, until terminated."""
    import asyncio

    from policyengine import crypto
    from policyengine.engine import Engine
    from policyengine.server.server import Server
    from policyengine.server.users import load_users

    engine = Engine.load(policies, database, keys=crypto.parse_key(KEY_HEX), audit=audit)
    server = Server(engine, load_users(users_file))

    def started(port: int) -> None:
        print(port, flush=True)

    asyncio.run(server.serve("127.0.0.1", 0, started=started))


class FrontDoor:
    def __init__(self, folder: Path, database: Path):
        from policyengine.server.users import set_password

        self.users_file = folder / "users.yaml"
        for name in PRINCIPALS:
            set_password(self.users_file, name, PASSWORDS[name])
        self.audit = folder / "audit.jsonl"
        self.database = database
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        code = ("import sys; from benchmarks.frontdoor import serve; serve(*sys.argv[1:])")
        # a session of its own: Ctrl-C reaches this process, which then stops the server
        self.process = subprocess.Popen([sys.executable, "-c", code, str(POLICIES), str(self.database),
                                         str(self.users_file), str(self.audit)], cwd=ROOT, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        line = self.process.stdout.readline()  # the port, once listening
        if not line.strip().isdigit():
            process, self.process = self.process, None
            if process.poll() is None:
                process.terminate()
            try:
                _, said = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                _, said = process.communicate()
            raise RuntimeError(f"the front door did not start: {line}{said[-2000:]}")
        self.port = int(line)

    def memory(self) -> dict[str, int]:
        return proc_status(self.process.pid) if self.process else {}

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


# --- measurements --------------------------------------------------------------------------------

def fetch(targets: list[tuple[str, int, str]], rows: int, repeat: int,
          advance: Callable[[], None]) -> list[dict[str, Any]]:
    """Median rows/s of the whole-table fetch per (name, port, user): decoded by psycopg, and as a libpq
    result only. Rounds alternate between the servers, so a busy moment of the machine is shared."""
    import psycopg
    from psycopg import pq

    def decoded(connection: Any) -> int:
        cursor = connection.execute(FETCH)
        return len(cursor.fetchall())

    def undecoded(connection: Any) -> int:
        result = connection.pgconn.exec_(FETCH.encode())
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise RuntimeError(result.error_message.decode(errors="replace"))
        count = result.ntuples
        result.clear()
        return count

    methods = {"psycopg": decoded, "libpq": undecoded}
    connections = [psycopg.connect(dsn(port, user), autocommit=True) for _, port, user in targets]
    try:
        samples: dict[tuple[int, str], list[float]] = {}
        for index, ((_, _, user), connection) in enumerate(zip(targets, connections)):
            for name, fn in methods.items():
                if fn(connection) != rows:  # warm-up, and the principal sees every row
                    raise RuntimeError(f"{user} did not get {rows} rows")
                samples[(index, name)] = []
        for _ in range(repeat):
            for index, connection in enumerate(connections):
                for name, fn in methods.items():
                    started = time.perf_counter()
                    fn(connection)
                    samples[(index, name)].append(time.perf_counter() - started)
            advance()
    finally:
        for connection in connections:
            connection.close()
    return [{"target": target, "user": user,
             **{name: rows / statistics.median(samples[(index, name)]) for name in methods}}
            for index, (target, _, user) in enumerate(targets)]


def pgbench(port: int, user: str, script: Path, mode: str, connect: bool, seconds: int, clients: int,
            threads: int) -> dict[str, float]:
    args = [str(PG_BIN / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-f", str(script),
            "-M", mode, "-c", str(clients), "-j", str(threads), "-T", str(seconds)] + (["-C"] if connect else []) \
        + [DATABASE]
    env = {**os.environ, "PGPASSWORD": PASSWORDS[user], "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "10"}
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=seconds * 4 + 60, env=env)
    output = result.stdout + result.stderr
    tps = re.search(r"^tps = ([0-9.]+)", result.stdout, re.MULTILINE)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", result.stdout)
    if result.returncode != 0 or tps is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench -M {mode} as {user} failed: {output[-1500:]}")
    return {"tps": float(tps.group(1)), "transactions": int(done.group(1)) if done else 0,
            "latency_ms": float(latency.group(1)) if latency else float("nan")}


def stream_large(ports: dict[str, int], rows: int, door: "FrontDoor") -> dict[str, Any]:
    """A result far larger than memory should allow if it were held: ``rows`` rows of a cross join,
    read through a server-side cursor (DECLARE/FETCH) by the same client from both servers. The
    front door's peak resident memory before and after shows whether it streams."""
    import psycopg

    query = f'SELECT a."{STREAM_COLUMNS[0]}", b."{STREAM_COLUMNS[1]}" FROM {TABLE} a, {TABLE} b LIMIT {rows}'
    out: dict[str, Any] = {"rows": rows, "query": query, "peak_before_kb": door.memory().get("VmHWM")}
    for target, user in (("postgres", PG_USER), ("frontdoor", "frank")):
        with psycopg.connect(dsn(ports[target], user)) as conn, conn.cursor(name="large") as cur:
            cur.itersize = 20_000
            started = time.perf_counter()
            cur.execute(query)
            count = sum(1 for _ in cur)
            out[target] = {"rows": count, "seconds": time.perf_counter() - started}
    out["peak_after_kb"] = door.memory().get("VmHWM")
    out["rss_after_kb"] = door.memory().get("VmRSS")
    return out


def run(repeat: int = 3, progress: Callable[[int, int], None] | None = None, *, rows: int = 200_000,
        users: int = 5_000, seconds: int = 5, clients: int = 4, threads: int = 2,
        large: int = 10_000_000) -> dict[str, Any]:
    """Everything measured in one run; ``{"missing": reason}`` when PostgreSQL or pgbench is not here."""
    results: dict[str, Any] = {"rows": rows, "users": users, "repeat": repeat, "seconds": seconds,
                               "clients": clients, "threads": threads, "cores": os.cpu_count()}
    reason = missing()
    if reason:
        return {**results, "missing": reason}
    targets = [("postgres", PG_USER)] + [("frontdoor", name) for name in PRINCIPALS]
    total = 4 + repeat + len(targets) * len(PGBENCH_RUNS)
    step = 0

    def advance() -> None:
        nonlocal step
        step += 1
        if progress:
            progress(step, total)

    begun = time.perf_counter()
    results["load_before"] = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="pe-frontdoor-"))
    folder.chmod(0o711)  # the postgres user reaches its own folder inside, nothing else
    postgres = PostgreSQL(folder / "postgres")
    door: FrontDoor | None = None
    try:
        started = time.perf_counter()
        database, csv, columns = build_data(folder, rows, users)
        results["build_s"] = time.perf_counter() - started
        results["columns"] = [f"{name} {kind}" for name, kind in columns]
        advance()
        postgres.start()
        results["postgres_version"] = load_postgres(postgres.port, csv, columns)
        results["pgbench_version"] = subprocess.run([str(PG_BIN / "pgbench"), "--version"], check=False,
                                                    capture_output=True, text=True).stdout.strip()
        csv.unlink()
        advance()
        door = FrontDoor(folder, database)
        door.start()
        results["frontdoor_rss_start_kb"] = door.memory().get("VmRSS")
        advance()
        ports = {"postgres": postgres.port, "frontdoor": door.port}

        import psycopg

        check = fingerprint_query(columns)
        with psycopg.connect(dsn(postgres.port, PG_USER), autocommit=True) as a, \
                psycopg.connect(dsn(door.port, "frank"), autocommit=True) as b:
            left, right = a.execute(check).fetchone(), b.execute(check).fetchone()
            sample = f'SELECT * FROM {TABLE} ORDER BY "{columns[0][0]}" LIMIT 100'
            same_rows = a.execute(sample).fetchall() == b.execute(sample).fetchall()
        if [int(v or 0) for v in left] != [int(v or 0) for v in right] or not same_rows:
            raise RuntimeError(f"the two copies of {TABLE} differ: {left} != {right} or in their first rows")

        results["fetch"] = fetch([(target, ports[target], user) for target, user in targets], rows, repeat, advance)
        results["frontdoor_rss_peak_kb"] = door.memory().get("VmHWM")
        results["client_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        script = folder / "point.sql"
        script.write_text(POINT.format(rows=rows))
        results["pgbench"] = []
        for mode, connect in PGBENCH_RUNS:
            for target, user in targets:  # each server right after the other, for each mode
                measured = pgbench(ports[target], user, script, mode, connect, seconds, clients, threads)
                results["pgbench"].append({"target": target, "user": user, "mode": mode, "connect": connect,
                                           **measured})
                advance()
        results["frontdoor_rss_end_kb"] = door.memory().get("VmHWM")
        results["stream"] = stream_large(ports, large, door)
        advance()
    finally:
        if door is not None:
            door.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    results["wall_s"] = time.perf_counter() - begun
    results["load_after"] = os.getloadavg()[0]
    return results


# --- the report ------------------------------------------------------------------------------------

def _label(target: str, user: str) -> str:
    if target == "postgres":
        return "PostgreSQL 15 (table owner)"
    return f"front door as {user} ({PRINCIPALS[user].split(':')[0]}, {'raw' if user == 'frank' else 'masked'})"


def summary(results: dict[str, Any]) -> dict[str, float]:
    if "missing" in results:
        return {}
    out: dict[str, float] = {}
    fetched = {(r["target"], r["user"]): r for r in results["fetch"]}
    reference = fetched[("postgres", PG_USER)]
    for user in PRINCIPALS:
        row = fetched[("frontdoor", user)]
        out[f"fetch_{user}_rows_per_s"] = row["psycopg"]
        out[f"fetch_{user}_over_postgres"] = row["psycopg"] / reference["psycopg"]
        out[f"fetch_libpq_{user}_over_postgres"] = row["libpq"] / reference["libpq"]
    out["fetch_postgres_rows_per_s"] = reference["psycopg"]
    bench = {(r["target"], r["user"], r["mode"], r["connect"]): r["tps"] for r in results["pgbench"]}
    for mode, connect in PGBENCH_RUNS:
        name = mode + ("_connect" if connect else "")
        base = bench[("postgres", PG_USER, mode, connect)]
        out[f"pgbench_{name}_postgres_tps"] = base
        for user in PRINCIPALS:
            out[f"pgbench_{name}_{user}_over_postgres"] = bench[("frontdoor", user, mode, connect)] / base
    return out


def markdown(results: dict[str, Any], command: str) -> str:
    title = "## Front door against PostgreSQL 15 (whole-table fetch, pgbench point queries)"
    if "missing" in results:
        return f"{title}\n\nNot measured by `{command}`: {results['missing']}.\n"
    lines = [
        title, "",
        (f"Produced by `{command}` on a {results['cores']}-core machine in {results['wall_s']:.0f} s; "
         f"PostgreSQL {results['postgres_version'].split()[0]} and the front door serve the same "
         f"{results['rows']:,}-row `{TABLE}` table (demo database, {len(results['columns'])} columns: "
         f"{', '.join(c.split()[0] for c in results['columns'])}) on 127.0.0.1, both with SCRAM-SHA-256 "
         "logins, text results, no TLS. PostgreSQL runs Debian's defaults but fsync=off; the front door "
         "runs in its own Python process with its audit log on. Ratios are against PostgreSQL in the same "
         "run, measured in alternation; nothing here is asserted. One-minute load average "
         f"{results['load_before']:.1f} before the run, {results['load_after']:.1f} after it "
         f"(the machine's {results['cores']} cores may have been shared)."), "",
        f"### `{FETCH}` ({results['rows']:,} rows), median of {results['repeat']}", "",
        ("psycopg: `cursor.execute` + `fetchall` (rows decoded into Python tuples); libpq: the same statement "
         "through `psycopg.pq` with no row decoding, so the figure is the server and the wire."), "",
        "| served by | psycopg rows/s | / PostgreSQL | libpq rows/s | / PostgreSQL |", "|---|---:|---:|---:|---:|",
    ]
    reference = next(r for r in results["fetch"] if r["target"] == "postgres")
    for r in results["fetch"]:
        lines.append(f"| {_label(r['target'], r['user'])} | {r['psycopg']:,.0f} | "
                     f"{r['psycopg'] / reference['psycopg']:.3f}x | {r['libpq']:,.0f} | "
                     f"{r['libpq'] / reference['libpq']:.3f}x |")
    start, peak = results.get("frontdoor_rss_start_kb"), results.get("frontdoor_rss_peak_kb")
    end = results.get("frontdoor_rss_end_kb")
    if start and peak:
        lines += ["", f"Front-door process memory: {start / 1024:.0f} MB resident after start, peak "
                      f"{peak / 1024:.0f} MB after the fetches"
                      + (f", {end / 1024:.0f} MB after pgbench" if end else "")
                      + f"; the client process peaked at {results['client_maxrss_kb'] / 1024:.0f} MB "
                        "(it also built the demo database)."]
    lines += [
        "", (f"### pgbench point query, {results['clients']} clients, {results['threads']} threads, "
             f"{results['seconds']} s each"), "",
        "```", POINT.format(rows=results["rows"]).rstrip(), "```", "",
        ("| served by | -M simple TPS | / PostgreSQL | -M extended TPS | / PostgreSQL | "
         "-M simple -C TPS (login per transaction) | / PostgreSQL |"),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    bench = {(r["target"], r["user"], r["mode"], r["connect"]): r for r in results["pgbench"]}
    for target, user in [("postgres", PG_USER)] + [("frontdoor", name) for name in PRINCIPALS]:
        cells = []
        for mode, connect in PGBENCH_RUNS:
            tps = bench[(target, user, mode, connect)]["tps"]
            base = bench[("postgres", PG_USER, mode, connect)]["tps"]
            cells += [f"{tps:,.0f}", f"{tps / base:.3f}x"]
        lines.append(f"| {_label(target, user)} | " + " | ".join(cells) + " |")
    lines += ["", ("With `-C` every transaction is a new connection and a SCRAM-SHA-256 login, whose cost "
                   "(the client's key derivation included) dominates both servers' figures."), "",
              (f"{results['pgbench_version']}; demo database built in {results['build_s']:.0f} s "
               f"({results['users']:,} users, {results['rows']:,} reviews).")]
    stream = results.get("stream")
    if stream:
        pg, door = stream["postgres"], stream["frontdoor"]
        lines += ["", f"### Streaming {stream['rows']:,} rows through a server-side cursor (DECLARE/FETCH, 20,000 "
                      "rows per fetch), as frank", "", f"`{stream['query']}`", "",
                  "| served by | rows | seconds | rows/s | / PostgreSQL |", "|---|---:|---:|---:|---:|",
                  f"| PostgreSQL | {pg['rows']:,} | {pg['seconds']:.1f} | {pg['rows'] / pg['seconds']:,.0f} | 1x |",
                  f"| front door | {door['rows']:,} | {door['seconds']:.1f} | {door['rows'] / door['seconds']:,.0f} | "
                  f"{(door['rows'] / door['seconds']) / (pg['rows'] / pg['seconds']):.3f}x |", "",
                  f"Front-door peak resident memory: {stream['peak_before_kb'] / 1024:.0f} MB before, "
                  f"{stream['peak_after_kb'] / 1024:.0f} MB after streaming them ({stream['rss_after_kb'] / 1024:.0f} MB "
                  "resident after): the result is never held whole."]
    return "\n".join(lines) + "\n"
