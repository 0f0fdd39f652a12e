"""The conventions every ``policyengine`` command follows, checked as a user meets them.

Global options before or after the command, one spelling per option, choices and no ``<bool>`` in
``--help``, three exit codes (0 ok, 1 usage error or invalid input, 2 refused by policy), relative
times for ``audit``, unknown environments and filter values refused, principal attributes in
``explain``, MAP values as JSON, notices on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from policyengine.demo.data import build_demo_database
from tests.conftest import EXAMPLE, ROOT
from tests.harness.cli import Cli

KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("conventions")
    build_demo_database(folder / "demo.duckdb", users=100, reviews=300)
    return folder / "demo.duckdb"


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path) -> Cli:
    for name in ("POLICYENGINE_POLICIES", "POLICYENGINE_DB", "POLICYENGINE_AUDIT", "POLICYENGINE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLICYENGINE_KEY", KEY)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)  # the audit log and anything written land here
    return Cli(capsys, monkeypatch)


def _command_paths() -> list[list[str]]:
    """Every command and group of the tree, as the words a user types."""
    import typer

    from policyengine.cli import app, commands  # noqa: F401  (registers the commands)

    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


COMMAND_PATHS = _command_paths()


# --- 1. global options before or after the command ----------------------------------------------------

SQL = "SELECT Country, count(*) AS n FROM user_demographics GROUP BY 1 ORDER BY 1"


@pytest.mark.parametrize("order", ["before", "after", "mixed", "attached"])
def test_global_options_before_or_after_the_command(cli, demo_db, order):
    arguments = {
        "before": ["-p", str(EXAMPLE), "-e", "dev", "-f", "csv", "--db", str(demo_db), "query", "-u", "bob", SQL],
        "after": ["query", "-u", "bob", "--policies", str(EXAMPLE), "--env", "dev", "--format", "csv",
                  "--db", str(demo_db), SQL],
        "mixed": ["--format", "csv", "query", "-p", str(EXAMPLE), "-u", "bob", "--db", str(demo_db), SQL, "-e", "dev"],
        "attached": [f"--policies={EXAMPLE}", "-edev", "-fcsv", f"--db={demo_db}", "query", "-u", "bob", SQL],
    }[order]
    code, out, err = cli(*arguments)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))  # --format csv was used
    # --policies and --db were used: bob's row filter keeps the countries of his region only
    with duckdb.connect(str(demo_db), read_only=True) as con:
        eu = {c for (c,) in con.execute("SELECT Country FROM region_countries WHERE Region = 'EU'").fetchall()}
    assert rows and {r["Country"] for r in rows} <= eu
    # --env was used: the audit log (in the working folder) says which environment the query ran in
    entry = json.loads((Path(".policyengine") / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["environment"] == "dev" and entry["principal"] == "bob"


def test_the_same_answer_whichever_side_the_options_are_on(cli):
    before = cli("-p", str(EXAMPLE), "-f", "json", "-e", "dev", "explain", "-u", "carol")
    after = cli("explain", "-u", "carol", "-f", "json", "-e", "dev", "-p", str(EXAMPLE))
    assert before[0] == 0 and before == after
    assert json.loads(before[1])[0]["environment"] == "dev"


def test_a_global_option_is_not_ignored_by_a_command_without_it(cli, demo_db):
    code, out, err = cli("-p", str(EXAMPLE), "--db", str(demo_db), "explain", "-u", "carol")
    assert code == 1 and out == ""
    assert "--db is not an option of `policyengine explain`" in err


def test_policies_after_the_command_is_used(cli, tmp_path):
    code, _, err = cli("validate", "-p", str(tmp_path / "nowhere"))
    assert code == 1 and "nowhere" in err
    code, out, _ = cli("validate", "--format", "json", "--policies", str(EXAMPLE))
    assert code == 0 and json.loads(out)["valid"] is True


@pytest.mark.parametrize("arguments, option, command", [
    (["-f", "json", "schema"], "--format", "schema"),
    (["--env", "prod", "validate"], "--env", "validate"),
    (["--db", "x.duckdb", "rewrite", "-u", "bob", "SELECT 1"], "--db", "rewrite"),
    (["-e", "prod", "ddl", "snowflake"], None, None),  # ddl snowflake takes --env: no error here
])
def test_a_global_option_the_command_does_not_take_is_a_usage_error(cli, arguments, option, command):
    code, out, err = cli("-p", str(EXAMPLE), *arguments)
    if option is None:
        assert code == 0 and "CREATE" in out.upper()
        return
    assert code == 1
    assert option in err and f"policyengine {command}" in err


@pytest.mark.parametrize("given, normalised", [
    (["query", "-u", "bob", "-p", "P", "SELECT 1"], ["-p", "P", "query", "-u", "bob", "SELECT 1"]),
    (["-e", "dev", "-f", "json", "query", "SELECT 1"], ["query", "--env", "dev", "--format", "json", "SELECT 1"]),
    (["--env=dev", "ddl", "snowflake", "--mode", "tag"], ["ddl", "snowflake", "--env", "dev", "--mode", "tag"]),
    (["-e", "dev", "query", "-e", "prod"], ["query", "--env", "dev", "-e", "prod"]),  # the later one wins
    (["audit", "-u", "-p"], ["audit", "-u", "-p"]),  # the value of -u, as click reads it: not --policies
    (["query", "--", "-p"], ["query", "--", "-p"]),  # after --, nothing is an option
    (["derive", "--output=x.yaml"], ["derive", "--out=x.yaml"]),  # the old spelling, respelled
    (["derive", "--output", "x.yaml"], ["derive", "--out", "x.yaml"]),
    (["--help"], ["--help"]),
    (["nosuch", "-e", "dev"], ["nosuch", "-e", "dev"]),  # no command: click says so
])
def test_normalise_arguments(given, normalised):
    import typer

    from policyengine.cli import app, commands  # noqa: F401
    from policyengine.cli.conventions import normalise_arguments

    assert normalise_arguments(typer.main.get_command(app), given) == normalised


def test_a_global_option_without_a_command_is_a_usage_error(cli):
    code, _, err = cli("-p", str(EXAMPLE), "--env", "prod", "ddl")
    assert code == 1 and "--env goes with a command" in err


# --- 2. one spelling per option -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [["report"], ["derive"], ["import", "dbt"], ["schema"], ["keygen"]])
def test_output_files_are_dash_o_out_everywhere(cli, path):
    code, out, _ = cli(*path, "--help")
    assert code == 0
    assert re.search(r"--out\s+-o\b", out), out
    assert "--output" not in out


def test_derive_output_still_works_as_a_hidden_alias(cli, tmp_path):
    sql = "CREATE TABLE emails AS SELECT UserID, Email FROM user_demographics"
    target = tmp_path / "emails.yaml"
    code, _, err = cli("-p", str(EXAMPLE), "derive", "--output", str(target), stdin=sql)
    assert code == 0, err
    assert "table: emails" in target.read_text() or "emails" in target.read_text()
    target.unlink()
    assert cli("-p", str(EXAMPLE), "derive", "-o", str(target), stdin=sql)[0] == 0 and target.is_file()


# --- 3. --help: choices shown, no <bool> ------------------------------------------------------------

@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "root")
def test_help_is_clean_everywhere(cli, path):
    code, out, err = cli(*path, "--help")
    assert code == 0, err
    assert "Usage: policyengine" in out
    assert "<bool>" not in out
    assert "<list[" not in out  # a repeatable option shows its element type, then ...


def test_help_paragraphs_are_not_broken_where_the_source_wraps(cli):
    # the docstrings wrap at 110 columns; on a wide terminal each paragraph is one line
    _, out, _ = cli("--help")
    assert "through joins, CTEs, aggregates and expressions, and the sensitivity" in out
    _, out, _ = cli("scan", "--help")
    assert "and report unclassified columns, columns labelled below what they hold" in out


def test_every_command_was_checked():
    names = {" ".join(p) for p in COMMAND_PATHS}
    assert {"query", "rewrite", "audit", "explain", "ddl snowflake", "apply snowflake", "import dbt", "fuzz",
            "validate", "scan", "report", "derive", "lineage", "test", "user add"} <= names


@pytest.mark.parametrize("path, choices", [
    (["query"], ["table|json|csv", "duckdb|snowflake"]),
    (["audit"], ["allowed|refused|failed|egress", "table|json|csv"]),
    (["ddl", "snowflake"], ["column|tag"]),
    (["apply", "snowflake"], ["column|tag"]),
    (["import", "dbt"], ["auto|none|schema|database",
                         "email|partial|generalize|encrypt|tokenize|hash|redact|nullify|deny"]),
    (["fuzz"], ["queries|protocol|policies"]),
    ([], ["table|json|csv"]),
])
def test_choices_are_shown_as_choices(cli, path, choices):
    code, out, _ = cli(*path, "--help")
    assert code == 0
    flat = re.sub(r"\s+", "", out)
    for choice in choices:
        assert choice in flat, f"{choice} not in `{' '.join(path)} --help`"


def test_the_masking_policy_kinds_shown_are_the_ones_accepted():
    from policyengine.cli.import_ import UNKNOWN_POLICY_METAVAR, Qualify
    from policyengine.dbt import QUALIFY_CHOICES, UNKNOWN_POLICY_KINDS

    assert UNKNOWN_POLICY_METAVAR == "<" + "|".join(UNKNOWN_POLICY_KINDS) + ">"
    assert tuple(q.value for q in Qualify) == QUALIFY_CHOICES


@pytest.mark.parametrize("arguments, option", [
    (["audit", "--decision", "nosuch"], "allowed"),
    (["ddl", "snowflake", "--mode", "rows"], "column"),
    (["query", "--backend", "oracle", "-u", "bob", "SELECT 1"], "snowflake"),
    (["import", "dbt", ".", "--qualify", "catalog"], "database"),
    (["query", "-u", "bob", "-f", "xml", "SELECT 1"], "csv"),
])
def test_a_value_outside_the_choices_exits_1_listing_them(cli, arguments, option):
    code, _, err = cli("-p", str(EXAMPLE), *arguments)
    assert code == 1
    assert option in err


# --- 4. exit codes: 0 ok, 1 usage error or invalid input, 2 refused by policy --------------------------

@pytest.mark.parametrize("command", [["query", "-u", "bob"], ["rewrite", "-u", "bob"], ["explain", "-u", "bob"],
                                     ["lineage"]])
def test_a_syntax_error_is_invalid_input_exit_1(cli, demo_db, command):
    extra = ["--db", str(demo_db)] if command[0] == "query" else []
    code, out, err = cli("-p", str(EXAMPLE), *command, *extra, "SELEC 1")
    assert code == 1, err
    assert err.startswith("error: ") and "syntax error at line 1, column 7" in err
    assert out == ""


def test_derive_syntax_error_exits_1(cli):
    code, _, err = cli("-p", str(EXAMPLE), "derive", stdin="CREATE TABLE d AS SELECT sum(x) FROM reviews WHERE")
    assert code == 1 and "syntax error" in err


@pytest.mark.parametrize("option", ["--read", "--dialect"])
def test_an_unknown_dialect_exits_1(cli, option):
    command = "rewrite" if option == "--dialect" else "lineage"
    args = [command, "-u", "bob"] if command == "rewrite" else [command]
    code, _, err = cli("-p", str(EXAMPLE), *args, option, "nosuchsql", "SELECT 1")
    assert code == 1 and "nosuchsql" in err


def test_the_three_exit_classes(cli, demo_db):
    ok = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "bob", "SELECT count(*) FROM reviews")
    usage = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "bob", "--no-such-option", "SELECT 1")
    invalid = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "nobody", "SELECT 1")
    refused = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "bob",
                  "SELECT NationalID FROM user_demographics")
    assert [ok[0], usage[0], invalid[0], refused[0]] == [0, 1, 1, 2]
    assert refused[2].startswith("refused: ") and invalid[2].startswith("error: unknown principal")


def test_readme_documents_the_exit_codes():
    readme = (ROOT / "README.md").read_text()
    commands = readme.split("## Commands", 1)[1].split("\n|", 1)[0]
    assert "0 ok" in commands and "1 usage error or invalid input" in commands and "2 refused by policy" in commands
    assert "syntax error" in commands


# --- 5. audit --since: ISO and relative times ---------------------------------------------------------

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("1h", NOW - timedelta(hours=1)),
    ("30m", NOW - timedelta(minutes=30)),
    ("2d", NOW - timedelta(days=2)),
    ("1w", NOW - timedelta(weeks=1)),
    ("45s", NOW - timedelta(seconds=45)),
    ("today", datetime(2026, 12, 7, tzinfo=UTC)),
    ("Yesterday", datetime(2026, 12, 6, tzinfo=UTC)),
    ("2026-11-25T08:00Z", datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
    ("2026-11-25T08:00:00+01:00", datetime(2026, 11, 25, 7, 0, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    from policyengine.cli.audit import parse_time

    assert parse_time(text, NOW) == expected


def test_an_iso_date_without_zone_is_local_midnight():
    from policyengine.cli.audit import parse_time

    parsed = parse_time("2026-11-25", NOW)
    assert parsed.tzinfo is not None and (parsed.year, parsed.month, parsed.day, parsed.hour) == (2026, 11, 25, 0)


@pytest.mark.parametrize("text", ["bogus", "1y", "-1h", "h", "2026-13-01", "last week"])
def test_parse_time_refuses_what_it_does_not_understand(text):
    from policyengine.cli.audit import BadTime, parse_time

    with pytest.raises(BadTime, match="is not a time: give an ISO date or time"):
        parse_time(text, NOW)


def _audit_log(path: Path, ages: dict[str, timedelta]) -> Path:
    now = datetime.now(UTC)
    with path.open("w") as log:
        for principal, age in ages.items():
            log.write(json.dumps({"time": (now - age).isoformat(timespec="milliseconds"), "principal": principal,
                                  "roles": ["bi_analyst"], "environment": "prod", "decision": "allowed",
                                  "reason": None, "rows": 1, "duration_ms": 1.0, "statement": "SELECT 1",
                                  "reads": []}) + "\n")
    return path


def test_audit_since_relative_and_named_times(cli, tmp_path):
    log = _audit_log(tmp_path / "audit.jsonl", {"recent": timedelta(minutes=5), "hours": timedelta(hours=5),
                                                 "days": timedelta(days=3), "weeks": timedelta(days=20)})

    def since(value: str) -> list[str]:
        code, out, err = cli("audit", "--audit", str(log), "--since", value, "-f", "json")
        assert code == 0, err
        return [entry["principal"] for entry in json.loads(out)]

    assert since("1h") == ["recent"]
    assert since("6h") == ["recent", "hours"]
    assert since("4d") == ["recent", "hours", "days"]
    assert since("30d") == ["recent", "hours", "days", "weeks"]
    assert "recent" in since("yesterday") and "days" not in since("yesterday")
    code, out, _ = cli("audit", "--audit", str(log), "--until", "1h", "-f", "json")
    assert [e["principal"] for e in json.loads(out)] == ["hours", "days", "weeks"]


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_audit_bad_time_exits_1_saying_what_is_accepted(cli, tmp_path, option):
    log = _audit_log(tmp_path / "audit.jsonl", {"x": timedelta(minutes=1)})
    code, out, err = cli("audit", "--audit", str(log), option, "last tuesday")
    assert code == 1 and out == ""
    assert err.startswith(f"error: {option}: 'last tuesday' is not a time") and "yesterday" in err


# --- 6. unknown environments and filter values are refused --------------------------------------------

@pytest.mark.parametrize("command", [
    ["query", "-u", "bob", "SELECT 1"],
    ["rewrite", "-u", "bob", "SELECT 1"],
    ["explain", "-u", "bob"],
    ["explain", "-u", "bob", "SELECT 1"],
    ["ddl", "snowflake"],
    ["apply", "snowflake", "--dry-run"],
    ["verify", "snowflake"],
    ["report"],
])
def test_an_unknown_environment_is_refused_on_every_command(cli, demo_db, command):
    extra = ["--db", str(demo_db)] if command[0] == "query" else []
    code, out, err = cli("-p", str(EXAMPLE), *command, *extra, "--env", "nosuch")
    assert code == 1, (out, err)
    assert "unknown environment 'nosuch' (environments: dev, staging, prod)" in err


def test_every_command_that_takes_env_is_covered():
    from typer.main import get_command

    from policyengine.cli import app

    tree = get_command(app)
    takes_env = set()
    for path in COMMAND_PATHS:
        command = tree
        for name in path:
            command = command.commands[name]
        if any("--env" in getattr(p, "opts", ()) for p in command.params) and path:
            takes_env.add(" ".join(path))
    assert takes_env == {"query", "rewrite", "explain", "ddl snowflake", "apply snowflake", "verify snowflake",
                         "report"}


@pytest.mark.parametrize("option, kind, listed", [
    ("--principal", "principal", "ivan"),  # in the policy set, not in the log: known
    ("--role", "role", "support"),
    ("--table", "table", "region_countries"),
])
def test_audit_unknown_filter_values_are_refused(cli, tmp_path, option, kind, listed):
    log = _audit_log(tmp_path / "audit.jsonl", {"bob": timedelta(minutes=1)})
    code, out, err = cli("-p", str(EXAMPLE), "audit", "--audit", str(log), option, "nosuch")
    assert code == 1 and out == ""
    assert err.startswith(f"error: {option} 'nosuch': no such {kind} in the audit log {log} or the policy set (")
    assert listed in err
    code, out, err = cli("-p", str(EXAMPLE), "audit", "--audit", str(log), option, listed.upper(), "-f", "json")
    assert (code, json.loads(out)) == (0, [])  # known, and simply not in this log: no entries, no error


def test_audit_filters_without_a_policy_set_use_the_log(cli, tmp_path):
    log = _audit_log(tmp_path / "audit.jsonl", {"bob": timedelta(minutes=1), "carol": timedelta(minutes=2)})
    code, _, err = cli("-p", str(tmp_path / "no-policies"), "audit", "--audit", str(log), "-u", "ivan")
    assert code == 1 and err.strip() == (f"error: --principal 'ivan': no such principal in the audit log {log} "
                                         "(principals: bob, carol)")
    code, out, _ = cli("-p", str(tmp_path / "no-policies"), "audit", "--audit", str(log), "-u", "Carol", "-f", "json")
    assert code == 0 and [e["principal"] for e in json.loads(out)] == ["carol"]


def test_explain_unknown_table_is_refused_listing_the_tables(cli):
    code, _, err = cli("-p", str(EXAMPLE), "explain", "-u", "bob", "-t", "nosuch")
    assert code == 1
    assert "unknown table 'nosuch'" in err and "user_demographics" in err and "reviews" in err


def test_scan_unknown_table_is_refused_listing_the_tables(cli, demo_db):
    code, out, err = cli("-p", str(EXAMPLE), "scan", "--db", str(demo_db), "reviews", "nosuch")
    assert code == 1 and out == ""
    assert err.strip() == (f"error: no table 'nosuch' in the database {demo_db} (tables: region_countries, "
                           "review_summary, reviews, user_demographics, verified_reviews)")


def test_report_unknown_role_is_refused(cli):
    code, _, err = cli("-p", str(EXAMPLE), "report", "--role", "nosuch")
    assert code == 1 and "unknown role 'nosuch'" in err and "bi_analyst" in err


# --- 7. README: every command is in the Commands table ------------------------------------------------

def test_readme_commands_table_names_every_command():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in sorted({p[0] for p in COMMAND_PATHS if p})
               if f"`policyengine {name}" not in table]
    assert missing == []
    fuzz_row = next(line for line in table.splitlines() if line.startswith("| `policyengine fuzz"))
    assert "--long" in fuzz_row and "--reproduce" in fuzz_row


# --- 8. explain --principal: the attribute values row filters read ------------------------------------

@pytest.mark.parametrize("principal, value", [("bob", "EU"), ("carol", "NA")])
def test_explain_shows_the_principal_attribute_used_by_the_row_filter(cli, principal, value):
    code, out, _ = cli("-p", str(EXAMPLE), "explain", "-u", principal, "-t", "user_demographics")
    assert code == 0
    assert f"principal_attribute('region') = '{value}'" in out
    code, out, _ = cli("-p", str(EXAMPLE), "explain", "-u", principal, "-t", "user_demographics", "-f", "json")
    [table] = json.loads(out)
    assert table["principal_attributes"] == {"region": value}


def test_explain_says_when_there_is_no_attribute_to_use(cli):
    code, out, _ = cli("-p", str(EXAMPLE), "explain", "-r", "bi_analyst", "-t", "user_demographics")
    assert code == 0 and "principal_attribute('region') = NULL (no principal" in out
    code, out, _ = cli("-p", str(EXAMPLE), "explain", "-u", "frank", "-t", "user_demographics", "-f", "json")
    assert json.loads(out)[0]["principal_attributes"] == {}  # admin: no row filter, no attribute read


# --- 10. MAP values as JSON ----------------------------------------------------------------------------

def test_map_values_print_as_json(cli, demo_db):
    sql = ("SELECT MAP {'a': 1} AS m, MAP {DATE '2020-01-01': 1.5::DECIMAL(4,2)} AS d, MAP {1: [2, 3]} AS n, "
           "{'x': 'y'} AS s, 'nan'::DOUBLE AS f")
    code, out, err = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "frank", "-f", "json", sql)
    assert code == 0, err
    assert json.loads(out) == [{"m": {"a": 1}, "d": {"2020-01-01": "1.50"}, "n": {"1": [2, 3]}, "s": {"x": "y"},
                                "f": "nan"}]
    code, out, _ = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "frank", "-f", "csv",
                       "SELECT MAP {'a': 1} AS m, [1, 2] AS l")
    assert list(csv.reader(io.StringIO(out))) == [["m", "l"], ['{"a": 1}', "[1, 2]"]]


# --- 11. notices on stderr ------------------------------------------------------------------------------

def test_notices_go_to_stderr(cli, demo_db, monkeypatch):
    from policyengine.engine import Engine

    original = Engine.query

    def with_notice(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        result.notices = ["row filter reads principal attribute 'region', which role bi_analyst alone does not "
                          "have: 0 rows"]
        return result

    monkeypatch.setattr(Engine, "query", with_notice)
    code, out, err = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-r", "bi_analyst", "-f", "csv",
                         "SELECT count(*) AS n FROM user_demographics")
    assert code == 0
    assert out.splitlines() == ["n", "0"]
    assert err.splitlines() == ["notice: row filter reads principal attribute 'region', which role bi_analyst "
                                "alone does not have: 0 rows"]


def test_the_engines_notice_reaches_the_user(cli, demo_db):
    """A bare role has no principal attributes: the engine says why its row filter keeps nothing."""
    code, out, err = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-r", "bi_analyst", "-f", "json",
                         "SELECT count(*) AS n FROM user_demographics")
    assert code == 0 and json.loads(out) == [{"n": 0}]  # stdout stays parseable
    [notice] = err.splitlines()
    assert notice.startswith("notice: ") and "'region'" in notice and "bi_analyst" in notice


def test_no_notice_no_stderr(cli, demo_db):
    code, out, err = cli("-p", str(EXAMPLE), "query", "--db", str(demo_db), "-u", "frank", "-f", "csv",
                         "SELECT count(*) AS n FROM reviews")
    assert code == 0 and out.splitlines() == ["n", "300"]
    assert "notice:" not in err
