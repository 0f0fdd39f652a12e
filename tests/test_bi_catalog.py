"""Every statement of the BI corpus (/work/shared/clients/bi, see its README) through the front door.

Each statement runs as a principal on a front door over a small shop database (``customers`` and
``orders``, the names the corpus's examples use) and must run without error, except the statements
that are rightly refused (listed in REFUSED, with why). Catalog statements are also run on a real
PostgreSQL 15 holding the same visible tables (the columns and types the front door reports, in
schema ``public``), and the answers are compared: column names and row counts always, values where
they are neither OIDs nor version strings.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.harness.shop import DATABASE, PASSWORD, PRINCIPAL, Reference, Shop, start_reference, start_shop
from tests.harness.shop import connect as _connect

CORPUS = Path(os.environ.get("POLICYENGINE_BI_CORPUS", SHARED / "clients" / "bi"))

#: catalog statements whose answer lists fewer rows than PostgreSQL's, every one of them also in
#: PostgreSQL's: the front door lists only this database, its own catalog relations, and no operator
#: classes or system functions but its types' (its types are all of PostgreSQL 15's: pgtypes.py)
FEWER = {
    "npgsql-15": "databases", "npgsql-16": "roles of pg_catalog's relations",
    "pgcli-7": "databases", "pgcli-9": "databases", "pgjdbc-11": "databases", "pgjdbc-13": "catalog relations",
    "pgjdbc-15": "columns of catalog relations", "pgjdbc-19": "foreign keys",
    "psqlodbc-14": "catalog relations' columns", "superset-0": "databases",
    "sqlalchemy-23": "operator classes", "pgjdbc-12": "catalog relations", "pgcli-3": "catalog relations",
    "pgcli-4": "catalog relations", "psqlodbc-9": "columns of catalog relations",
}
#: catalog statements whose values differ from PostgreSQL's on purpose (names and success still compared)
DIFFERENT = {
    "pgcli-8": "system functions: only the types' (in/out/recv/send...) are listed, and proargtypes::regtype[] "
               "shows no bounds: PostgreSQL prints an oidvector's, [0:1]={oid,integer}, the front door {oid,integer} "
               "(every row is PostgreSQL's but for those bounds)",
    "metabase-11": "PostgreSQL's information_schema hides keys from a principal with only SELECT; the front door "
                   "shows the primary key it enforces (Metabase marks the key column)",
}

#: statements that fail outside the catalog (in the parser the session uses, the session's own statements):
#: issue #17 is open on them; strict, so each one fixed fails here until it is taken off this list
ELSEWHERE = {
    "pgjdbc-29": "reads the corpus database's column customers.mood, which this test's shop database does not have "
                 "(PostgreSQL fails alike, 42703)",
}

#: the README's three statements that only make sense inside their own session
SESSION_ONLY = {("psqlodbc", 16), ("sqlalchemy", 9), ("sqlalchemy", 10)}
#: statements the front door refuses, and why that is right (file, index) -> reason
REFUSED: dict[tuple[str, int], str] = {}


# --- the corpus ------------------------------------------------------------------------------------

@dataclass
class Statement:
    file: str
    index: int
    when: str
    note: str
    sql: str
    parameters: dict[int, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}-{self.index}"

    @property
    def placeholders(self) -> list[int]:
        return sorted({int(n) for n in re.findall(r"\$(\d+)", self.sql)})


def parse_corpus(path: Path) -> list[Statement]:
    """The README's format: ``-- source:``, ``-- when:``, ``-- note:`` (continued by ``--`` + 7 spaces),
    then the statement up to the line that is only ``;``."""
    statements: list[Statement] = []
    header: dict[str, str] | None = None
    body: list[str] = []
    for line in path.read_text().splitlines():
        if header is None:
            if line.startswith("-- source:"):
                header, body = {"when": "", "note": ""}, []
            continue
        if not body and line.startswith("-- when:"):
            header["when"] = line[len("-- when:"):].strip()
        elif not body and line.startswith("-- note:"):
            header["note"] = line[len("-- note:"):].strip()
        elif not body and line.startswith("--       "):
            header["note"] += " " + line.strip("- ").strip()
        elif line == ";":
            statements.append(Statement(path.stem, len(statements), header["when"], header["note"],
                                        "\n".join(body).rstrip()))
            header = None
        else:
            body.append(line)
    for statement in statements:
        statement.parameters = _example_values(statement)
    return statements


def _example_values(statement: Statement) -> dict[int, Any]:
    """``$1 = 'public'`` in the notes; or ``[null, 'public', 'orders'] -> $1, $2`` (Npgsql's restrictions)."""
    values: dict[int, Any] = {}
    for number, value in re.findall(r"\$(\d+) = ('[^']*'|-?\d+)", statement.note):
        values.setdefault(int(number), value[1:-1] if value.startswith("'") else value)
    restrictions = re.search(r"restrictions \[([^\]]*)\] -> \$", statement.note)
    if restrictions and not values:
        given = [v.strip().strip("'") for v in restrictions.group(1).split(",") if v.strip() != "null"]
        values = dict(enumerate(given, 1))
    return values


def corpus() -> list[Statement]:
    return [s for path in sorted(CORPUS.glob("*.sql")) for s in parse_corpus(path)]


STATEMENTS = corpus() if CORPUS.is_dir() else []


# --- the two servers (tests/harness/shop.py) ------------------------------------------------------

@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Shop]:
    yield from start_shop(tmp_path_factory)


@pytest.fixture(scope="module")
def postgresql(shop) -> Iterator[Reference]:
    yield from start_reference(shop)


# --- running a statement ---------------------------------------------------------------------------

@dataclass
class Answer:
    error: tuple[str, str] | None  # (SQLSTATE, message)
    names: list[str]
    rows: list[tuple[Any, ...]]
    status: str


def run(port: int, statement: Statement, oids: dict[str, str]) -> Answer:
    """One statement on a fresh connection, as its tool sends it: the simple protocol without
    parameters (a multi-statement message answers with its last result), else Parse/Bind/Execute with
    the example values as text of unknown type. The corpus's example OIDs become this server's."""
    from psycopg import pq

    text = statement.sql
    values = [str(statement.parameters[n]) for n in range(1, max(statement.placeholders, default=0) + 1)]
    for example, real in oids.items():
        text = re.sub(rf"\b{example}\b", real, text)
        values = [real if v == example else v for v in values]
    with _connect(port) as conn:
        pgconn = conn.pgconn
        if statement.placeholders:
            result = pgconn.exec_params(text.encode(), [v.encode() for v in values])
        else:
            result = pgconn.exec_(text.encode())
        if result.status == pq.ExecStatus.FATAL_ERROR:
            state = result.error_field(pq.DiagnosticField.SQLSTATE) or b""
            message = result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b""
            return Answer((state.decode(), message.decode()), [], [], "ERROR")
        names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
        rows = [tuple(None if (v := result.get_value(r, c)) is None else bytes(v).decode()
                      for c in range(result.nfields)) for r in range(result.ntuples)]
        return Answer(None, names, rows, (result.command_status or b"").decode())


# --- the tests -------------------------------------------------------------------------------------

def _runnable() -> list[Any]:
    def marks(statement: Statement) -> list[Any]:
        if (statement.file, statement.index) in SESSION_ONLY:
            return [pytest.mark.skip(reason="only meaningful inside its own session (README)")]
        if statement.id in ELSEWHERE:
            return [pytest.mark.xfail(reason=ELSEWHERE[statement.id], strict=True)]
        return []
    return [pytest.param(s, id=s.id, marks=marks(s)) for s in STATEMENTS]


@pytest.mark.skipif(not STATEMENTS, reason=f"needs the BI corpus at {CORPUS}")
@pytest.mark.parametrize("statement", _runnable())
def test_statement_runs_through_the_front_door(shop, statement):
    answer = run(shop.port, statement, shop.oids)
    if (statement.file, statement.index) in REFUSED:
        assert answer.error is not None, f"expected a refusal: {REFUSED[(statement.file, statement.index)]}"
        return
    assert answer.error is None, f"{statement.id}: {answer.error}"


def _is_catalog(statement: Statement) -> bool:
    import sqlglot

    from policyengine.server.catalog import is_catalog_statement

    try:
        trees = [t for t in sqlglot.parse(statement.sql, read="postgres") if t is not None]
    except sqlglot.errors.ParseError:
        return True  # judged by what the front door answers
    return any(is_catalog_statement(t) and isinstance(t, sqlglot.exp.Query) for t in trees)


@pytest.mark.skipif(not STATEMENTS, reason=f"needs the BI corpus at {CORPUS}")
@pytest.mark.parametrize("statement", [p for p in _runnable() if _is_catalog(p.values[0])])
def test_catalog_answer_matches_postgresql(shop, postgresql, statement):
    ours = run(shop.port, statement, shop.oids)
    theirs = _as_ours(run(postgresql.port, statement, postgresql.oids))
    assert theirs.error is None, f"PostgreSQL refused {statement.id}: {theirs.error}"
    assert ours.error is None, f"{statement.id}: {ours.error}"
    assert ours.names == theirs.names
    if statement.id in DIFFERENT:
        return
    if statement.id in FEWER:  # PostgreSQL lists built-in objects the front door does not: ours are among its
        missing = set(_comparable(ours, theirs)) - set(_comparable(theirs, ours))
        assert not missing, _difference(ours, theirs)
        return
    assert len(ours.rows) == len(theirs.rows), _difference(ours, theirs)
    assert _comparable(ours, theirs) == _comparable(theirs, ours), _difference(ours, theirs)


def _as_ours(answer: Answer) -> Answer:
    """PostgreSQL's bootstrap superuser owns its system objects; the front door's owner is ``policyengine``."""
    from benchmarks.frontdoor import PG_USER

    def rename(value: str | None) -> str | None:
        return None if value is None else re.sub(rf"\b{PG_USER}\b", "policyengine", value)
    return Answer(answer.error, answer.names, [tuple(rename(v) for v in row) for row in answer.rows], answer.status)


def _opaque(value: str | None) -> bool:
    """OIDs (user objects' differ between servers) and version strings are not compared."""
    if value is None:
        return False
    numbers = re.findall(r"-?\d+", value)
    return "PostgreSQL" in value or bool(numbers) and any(int(n) >= 16384 for n in numbers) \
        and re.fullmatch(r"[{(]?[-\d, ]+[})]?", value) is not None


def _comparable(answer: Answer, other: Answer | None = None) -> list[tuple[Any, ...]]:
    columns = range(len(answer.names))
    rows = answer.rows + (other.rows if other else [])
    kept = [c for c in columns if not any(_opaque(row[c]) for row in rows)]
    return sorted((tuple(row[c] for c in kept) for row in answer.rows), key=repr)


def _difference(ours: Answer, theirs: Answer) -> str:
    mine, reference = set(_comparable(ours, theirs)), set(_comparable(theirs, ours))
    return (f"{len(ours.rows)} rows here, {len(theirs.rows)} in PostgreSQL; only here: "
            f"{sorted(mine - reference, key=repr)[:8]}; only in PostgreSQL: {sorted(reference - mine, key=repr)[:8]}")


# --- the real clients ------------------------------------------------------------------------------

def _psql(port: int, *commands: str) -> Any:
    import subprocess

    from tests.harness.frontdoor import PSQL, PSQL_MISSING

    if PSQL is None:
        pytest.skip(PSQL_MISSING)
    args = [PSQL, f"host=127.0.0.1 port={port} user={PRINCIPAL} dbname={DATABASE} sslmode=disable", "-X",
            "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("command", [r"\du", r"\d customers", r"\d orders", r"\dt", r"\dn", r"\l"])
def test_psql_describes_as_postgresql_does(shop, postgresql, command):
    ours, theirs = _psql(shop.port, command), _psql(postgresql.port, command)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    if command in (r"\l", r"\du"):  # PostgreSQL also lists its other databases, and its bootstrap superuser
        def cells(text: str) -> list[list[str]]:
            return [[cell.strip() for cell in line.split("|")] for line in text.splitlines() if "|" in line]
        row = next(r for r in cells(ours.stdout) if r[0] in (DATABASE, PRINCIPAL))
        assert row in cells(theirs.stdout), (ours.stdout, theirs.stdout)
        return
    assert ours.stdout == theirs.stdout


def test_sqlalchemy_reflects_what_postgresql_reflects(shop, postgresql):
    import sqlalchemy as sa

    def reflect(port: int, schema: str | None) -> dict[str, Any]:
        engine = sa.create_engine(f"postgresql+psycopg://{PRINCIPAL}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}")
        try:
            inspector = sa.inspect(engine)
            found: dict[str, Any] = {"schemas": inspector.get_schema_names(),
                                     "tables": inspector.get_table_names(schema=schema),
                                     "default": inspector.default_schema_name}
            for table in ("customers", "orders"):
                found[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("comment"))
                                for c in inspector.get_columns(table, schema=schema)],
                    "pk": inspector.get_pk_constraint(table, schema=schema),
                    "indexes": inspector.get_indexes(table, schema=schema),
                    "fks": inspector.get_foreign_keys(table, schema=schema),
                    "comment": inspector.get_table_comment(table, schema=schema)}
            metadata = sa.MetaData(schema=schema)
            metadata.reflect(engine)
            found["reflected"] = sorted((t.fullname, tuple(c.name for c in t.columns)) for t in metadata.sorted_tables)
            orders = sa.Table("orders", sa.MetaData(), autoload_with=engine, schema=schema)
            found["autoload"] = [(c.name, str(c.type), c.primary_key) for c in orders.columns]
            return found
        finally:
            engine.dispose()

    for schema in (None, "public"):
        ours, theirs = reflect(shop.port, schema), reflect(postgresql.port, schema)
        assert ours == theirs
        assert [c[0] for c in ours["customers"]["columns"]] == ["id", "name", "email", "created_at"]  # no ssn


def test_privilege_functions_agree_with_the_decision(shop):
    with _connect(shop.port) as conn:
        row = conn.execute(
            "SELECT has_table_privilege('customers', 'select'), has_table_privilege('public.orders', 'SELECT'),"
            " has_table_privilege('customers', 'insert'), has_column_privilege('customers', 'email', 'select'),"
            " has_column_privilege('customers', 'ssn', 'select'), has_column_privilege('customers', 'nope', 'select'),"
            " has_any_column_privilege('customers', 'select'), has_schema_privilege('public', 'usage'),"
            " has_column_privilege(current_user, 'customers', 'id', 'SELECT'),"
            " has_column_privilege('customers', 'email', 'update')").fetchone()
    assert row == (True, True, False, True, False, False, True, True, True, False)


def test_tools_catalog_idioms(shop):
    """Grafana's table picker (string_to_array over search_path), DBeaver's index statistics
    (pg_stat_get_numscans), pg_get_keywords() as pgjdbc reads it, current_schema()."""
    with _connect(shop.port) as conn:
        grafana = conn.execute(
            "SELECT quote_ident(table_name) AS \"table\" FROM information_schema.tables WHERE "
            "quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache') AND "
            "table_type = 'BASE TABLE' AND quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '\"$user\"' "
            "THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array("
            "current_setting('search_path'), ','), 1), array_upper(string_to_array(current_setting('search_path'), "
            "','), 1)) AS i, string_to_array(current_setting('search_path'), ',') s) ORDER BY 1").fetchall()
        assert grafana == [("customers",), ("orders",)]
        dbeaver = conn.execute(
            "SELECT i.*, c.relkind, c.relam, pg_catalog.pg_stat_get_numscans(i.indexrelid) AS scans "
            "FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'public.orders'::regclass").fetchall()
        assert len(dbeaver) == 1 and dbeaver[0][-1] == 0
        keywords = conn.execute("select string_agg(word, ',') from pg_catalog.pg_get_keywords() "
                                "where word <> ALL ('{a,abs,absolute,action}'::text[])").fetchone()[0]
        assert "select" in keywords.split(",") and len(keywords.split(",")) > 400
        assert conn.execute("SELECT current_schema(), current_schemas(true)").fetchone() == \
            ("public", ["pg_catalog", "public"])
        # regproc, regclass and regtype: compared with OIDs and with names, shown as names
        assert conn.execute("SELECT typreceive, typinput FROM pg_type WHERE typname = 'int4'").fetchone() == \
            ("int4recv", "int4in")
        assert conn.execute("SELECT count(*) FROM pg_type t JOIN pg_proc p ON p.oid = t.typreceive "
                            "WHERE t.typname IN ('int4', '_int4')").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM pg_type WHERE typreceive = 'int4recv'::regproc "
                            "AND typsubscript = 0").fetchone() == (1,)
        assert conn.execute("SELECT c.oid::regclass, c.reltype::regtype, 'orders'::regclass = c.oid "
                            "FROM pg_class c WHERE c.oid::regclass = 'orders'").fetchone() == ("orders", "orders", True)
        assert conn.execute("SELECT oid::regtype FROM pg_type WHERE oid = 1043").fetchone() == ("character varying",)
        schemas = [r[0] for r in conn.execute("SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1")]
        assert "public" in schemas and "main" not in schemas


def _position(column: dict[str, Any]) -> int:
    return column["ordinal_position"]


def test_adbc_get_objects_as_from_postgresql(shop, postgresql):
    dbapi = pytest.importorskip("adbc_driver_postgresql.dbapi")

    def objects(port: int) -> list[Any]:
        uri = f"postgresql://{PRINCIPAL}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}?sslmode=disable"
        with dbapi.connect(uri) as conn:
            found = conn.adbc_get_objects(depth="all", catalog_filter=DATABASE, db_schema_filter="public").read_all()
            schema = conn.adbc_get_table_schema("orders", db_schema_filter="public")
        catalogs = found.to_pylist()
        # columns by their ordinal_position: the driver's query has no ORDER BY, and the shadow's joins reorder
        tables = sorted((t["table_name"], t["table_type"],
                         [c["column_name"] for c in sorted(t["table_columns"] or [], key=_position)],
                         sorted((k["constraint_type"], tuple(k["constraint_column_names"]))
                                for k in t["table_constraints"] or []))
                        for c in catalogs for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or [])
        return [[c["catalog_name"] for c in catalogs], tables, [(f.name, str(f.type)) for f in schema]]

    assert objects(shop.port) == objects(postgresql.port)


JDBC_PROBE = """
import java.sql.*;
import java.util.*;

public class BiProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("keywords\\t" + meta.getSQLKeywords());
            print("schemas", meta.getSchemas(), "TABLE_SCHEM");
            print("tables", meta.getTables(null, "public", "%", new String[] {"TABLE"}), "TABLE_NAME", "TABLE_TYPE",
                  "REMARKS");
            print("columns", meta.getColumns(null, "public", "%", "%"), "TABLE_NAME", "COLUMN_NAME", "TYPE_NAME",
                  "DATA_TYPE", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE", "REMARKS", "ORDINAL_POSITION");
            print("keys", meta.getPrimaryKeys(null, "public", "orders"), "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
            print("indexes", meta.getIndexInfo(null, "public", "orders", false, true), "INDEX_NAME", "COLUMN_NAME",
                  "NON_UNIQUE", "ORDINAL_POSITION", "ASC_OR_DESC");
            print("privileges", meta.getTablePrivileges(null, "public", "%"), "TABLE_NAME", "GRANTEE", "PRIVILEGE");
            print("udts", meta.getUDTs(null, "public", "%", null), "TYPE_NAME", "DATA_TYPE");
        }
    }

    static void print(String what, ResultSet rs, String... columns) throws SQLException {
        List<String> lines = new ArrayList<>();
        while (rs.next()) {
            StringBuilder line = new StringBuilder(what);
            for (String column : columns) line.append('\\t').append(rs.getString(column));
            lines.add(line.toString());
        }
        Collections.sort(lines);
        for (String line : lines) System.out.println(line);
    }
}
"""


def test_pgjdbc_metadata_as_from_postgresql(shop, postgresql, tmp_path):
    """getSQLKeywords() (null before: pg_get_keywords() had four words), getTables/Columns/PrimaryKeys/IndexInfo,
    getTablePrivileges (relacl) and getUDTs (table row types), as pgjdbc reads them from PostgreSQL 15."""
    import subprocess

    jar, javac = Path("/usr/share/java/postgresql.jar"), shutil.which("javac")
    if javac is None or not jar.exists():
        pytest.skip("needs a JDK and Debian's pgjdbc: apt-get install default-jdk-headless libpostgresql-jdbc-java")
    (tmp_path / "BiProbe.java").write_text(JDBC_PROBE)
    subprocess.run([javac, "-d", str(tmp_path), str(tmp_path / "BiProbe.java")], check=True, capture_output=True,
                   timeout=120)

    def probe(port: int) -> list[str]:
        run = subprocess.run(["java", "-cp", f"{jar}{os.pathsep}{tmp_path}", "BiProbe",
                              f"jdbc:postgresql://127.0.0.1:{port}/{DATABASE}?sslmode=disable", PRINCIPAL, PASSWORD],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return run.stdout.splitlines()

    ours, theirs = probe(shop.port), probe(postgresql.port)
    assert ours[0] == theirs[0] and len(ours[0].split(",")) > 50  # the keywords not in SQL:2003
    assert [line for line in ours if not line.startswith("schemas")] == \
        [line.replace("bench", "policyengine") for line in theirs if not line.startswith("schemas")]
    assert [line for line in ours if line.startswith("schemas")] == \
        [line for line in theirs if line.startswith("schemas") and "pg_toast" not in line]


RESETS = ["SET SESSION AUTHORIZATION DEFAULT", "RESET SESSION AUTHORIZATION", "SET ROLE NONE", "RESET ROLE",
          "SET SESSION ROLE NONE", "RESET ALL", "CLOSE ALL", "UNLISTEN *", "SELECT pg_advisory_unlock_all()",
          "DISCARD SEQUENCES", "DISCARD TEMP", "DISCARD TEMPORARY", "DISCARD PLANS", "DISCARD ALL",
          "SET SESSION AUTHORIZATION policyengine", "SET SESSION AUTHORIZATION 'policyengine'", "SET ROLE policyengine",
          "BEGIN", "DISCARD ALL", "ROLLBACK", "SELECT current_user, session_user"]


def test_connection_resets_as_postgresql(shop, postgresql):
    """What pools send to reset a connection (Npgsql's reset, DISCARD ALL) answers as in PostgreSQL: each
    statement's command tag, or its SQLSTATE; changing the session's user stays refused (42501)."""
    from psycopg import pq

    def answers(port: int) -> list[tuple[str, str, list[Any]]]:
        found = []
        with _connect(port) as conn:
            conn.execute("SET application_name = 'reset'")
            for text in RESETS:
                result = conn.pgconn.exec_(text.encode())
                state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
                rows = [bytes(result.get_value(r, c) or b"").decode() for r in range(result.ntuples)
                        for c in range(result.nfields)]
                found.append((text, state or (result.command_status or b"").decode(), rows))
            found.append(("application_name", conn.execute("SHOW application_name").fetchone()[0], []))
        return found

    assert answers(shop.port) == answers(postgresql.port)


KEYWORD_LABELS = [
    "SELECT id AS select, status AS table, total AS not, created_at AS from FROM orders WHERE id < 3 ORDER BY 1",
    "SELECT count(*) AS select FROM orders WHERE id < $1",
    "SELECT relname AS table, relkind AS select FROM pg_catalog.pg_class WHERE relname = $1",
    "SELECT t.typname, array[t.oid, t.typarray]::oid[]::regtype[]::text[] AS all FROM pg_catalog.pg_type t "
    "WHERE t.typname = $1",
]


@pytest.mark.parametrize("text", KEYWORD_LABELS)
def test_keyword_labels_and_oid_arrays_as_postgresql(shop, postgresql, text):
    """Any keyword after AS labels a column (PostgreSQL's ColLabel), over both protocols: the names, the
    parameter count a client is told and the values are PostgreSQL's. (Data values differ: the
    reference holds no rows, so only the catalog's are compared.)"""
    from psycopg import pq

    def answer(port: int) -> tuple[Any, ...]:
        with _connect(port) as conn:
            pgconn = conn.pgconn
            if "$1" not in text:
                result = pgconn.exec_(text.encode())
                nparams = 0
            else:
                assert pgconn.prepare(b"labels", text.encode()).status == pq.ExecStatus.COMMAND_OK
                nparams = _described(pgconn, b"labels").nparams
                value = b"orders" if "relname" in text else b"int4" if "typname" in text else b"3"
                result = pgconn.exec_prepared(b"labels", [value])
            assert result.status == pq.ExecStatus.TUPLES_OK, result.error_message
            names = [result.fname(i).decode() for i in range(result.nfields)]
            rows = [tuple(bytes(result.get_value(r, c) or b"").decode() for c in range(result.nfields))
                    for r in range(result.ntuples)] if "pg_" in text else []
            return names, nparams, rows

    assert answer(shop.port) == answer(postgresql.port)


def _described(pgconn: Any, name: bytes) -> Any:
    """Describe a prepared statement without holding the GIL while waiting (libpq's blocking
    PQdescribePrepared keeps it, and the front door under test runs in this process)."""
    import select

    pgconn.send_describe_prepared(name)
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        select.select([pgconn.socket], [], [], 1)
    result = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    return result
