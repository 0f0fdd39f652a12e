"""DLP: the detectors and their validators, the measured precision/recall, ``policyengine scan``, and the
egress check on every path a result leaves by (the engine, ``policyengine query``, DB-API, the front door)."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import threading
from pathlib import Path

import duckdb
import pytest

from policyengine.cli import main
from policyengine.dlp import detectors as d
from policyengine.dlp.classify import classify_column
from policyengine.dlp.egress import EgressStream
from policyengine.dlp.evaluate import markdown, measure
from policyengine.dlp.labelled import build, write_duckdb
from policyengine.dlp.names import name_evidence
from policyengine.dlp.scan import check_proposals, level_for, scan
from policyengine.engine import Engine
from policyengine.loading import load_policy_set
from policyengine.model import PolicySetInvalid
from tests.conftest import EXAMPLE
from tests.harness.frontdoor import needs_psql, psql

ROOT = Path(__file__).resolve().parent.parent


def found(text: str, column: str = "") -> list[tuple[str, str]]:
    return [(h.kind, text[h.start:h.end]) for h in d.hits(text, name_evidence(column))]


# --- validators ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kinds", [
    ("jane.doe+shop@mail.example.co.uk", ["email"]),
    ("write to ann@example.com.", ["email"]),
    ("the logo@2x.png is blurry", []),  # a retina image name
    ("npm i lodash@4.17.21", []),  # name@version
    ("thanks @maria", []),
    ("4111 1111 1111 1111", ["card"]),
    ("4111 1111 1111 1112", []),  # fails Luhn
    ("378282246310005", ["card"]),  # Amex, 15 digits
    ("9111111111111111", []),  # passes Luhn, no scheme issues 9...
    ("DE89 3704 0044 0532 0130 00", ["iban"]),
    ("DE89 3704 0044 0532 0130 01", []),  # fails mod-97
    ("GB82WEST12345698765432", ["iban"]),
    ("XX82WEST12345698765432", []),  # no such country
    ("123-45-6789", ["us_ssn"]),
    ("666-45-6789", []), ("900-45-6789", []), ("123-00-6789", []), ("123-45-0000", []), ("078-05-1120", []),
    ("AB 12 34 56 C", ["uk_nino"]),
    ("QQ123456C", []), ("BG123456C", []), ("AB123456E", []),
    ("192.168.1.20", ["ip_address"]),
    ("2001:db8::8a2e:370:7334", ["ip_address"]),
    ("256.1.1.1", []), ("12:30:45", []), ("00:1a:2b:3c:4d:5e", []),
    ("firmware 2.1.0.4 only", []),
    ("(415) 555-2671", ["phone"]), ("+44 7700 900123", ["phone"]), ("020 7946 0958", ["phone"]),
    ("+1-973-592-9124x124", ["phone"]), ("001-886-724-9448", ["phone"]),
    ("Order #415-555-2671 is late", []),  # an order number written like a phone number
    ("415-055-2671", []),  # exchange starting 0: not a North American number
    ("+1 (311) 837-1047", []),  # N11 area code
    ("2024-01-15", []), ("10.0.19041.1", []),
])
def test_detectors_validate_what_they_find(text, kinds):
    assert [k for k, _ in found(text)] == kinds


def test_spans_are_masked_and_the_rest_kept():
    text = "Call 212-555-0188 or mail ann@example.com, card 4111-1111-1111-1111."
    assert d.mask(text, d.hits(text)) == "Call ***** or mail *****, card *****."


def test_column_names_give_context():
    assert found("1.2.3.4", "client_ip") == [("ip_address", "1.2.3.4")]
    assert found("1.2.3.4", "version") == []  # a version column's 1.2.3.4 is a version
    assert found("123456789") == [] and found("123456789", "ssn") == [("us_ssn", "123456789")]
    assert found("4155552671") == [] and found("4155552671", "mobile") == [("phone", "4155552671")]
    assert name_evidence("ProductName").rules_out("person_name")
    assert name_evidence("BirthDate").suggests("date_of_birth") and not name_evidence("hotel").positive


def test_patterns_stay_linear_on_hostile_values():
    import time

    hostile = ["1 " * 20000, "a@" * 20000, "1." * 20000, "1:" * 20000, "AB12 " * 8000, "4-" * 20000]
    started = time.perf_counter()
    for text in hostile:
        d.hits(text)
    assert time.perf_counter() - started < 5


def test_level_for_maps_tiers_onto_any_level_list():
    levels = ("public", "regular", "internal", "confidential", "restricted")
    assert level_for(d.Tier.TOP, levels) == "restricted" and level_for(d.Tier.ELEVATED, levels) == "confidential"
    assert level_for(d.Tier.ELEVATED, ("open", "secret")) == "secret"


# --- column classification -----------------------------------------------------------------------------

def test_a_column_of_ids_that_pass_luhn_by_chance_is_not_cards():
    data = build(rows=300)
    ids = next(c for c in data.columns if c.key == "payments.acct_no")
    per_value = sum(1 for v in ids.values if d.CARD.scan(v).spans)
    assert per_value > 0  # some pass Luhn and carry an issuer prefix...
    assert "card" not in classify_column("acct_no", ids.values).kinds  # ...but the column is not cards


def test_birth_dates_need_a_population_spread_or_a_name():
    import datetime as dt

    data = build(rows=300)
    column = {c.key: c for c in data.columns}
    as_of = data.as_of
    assert "date_of_birth" in classify_column("d1", column["contacts.d1"].values, as_of=as_of).kinds
    assert "date_of_birth" not in classify_column("release_date", column["catalog.release_date"].values,
                                                   as_of=as_of).kinds
    assert "date_of_birth" not in classify_column("x", column["customers.signup_date"].values, as_of=as_of).kinds
    assert "date_of_birth" in classify_column("dob", [dt.date(2020, 1, 1)] * 30, as_of=as_of).kinds  # a baby


# --- measured precision and recall ---------------------------------------------------------------------

#: floors a little under what docs/dlp.md reports, so a regression fails and noise does not. Value-level
#: recall of IBANs and cards is 50%: the inventory table's misnamed columns (IBANs called ``code``, card
#: numbers called ``serial``, issue 18) are found by the scan, per column, but the egress check judges
#: one value at a time and still lets the name decide, so it misses them (docs/dlp.md says why).
VALUE_FLOORS = {  # detector: (precision, recall)
    "email": (0.98, 0.98), "iban": (0.97, 0.48), "card": (0.95, 0.48), "us_ssn": (0.97, 0.97),
    "uk_nino": (0.97, 0.97), "ip_address": (0.75, 0.98), "phone": (0.75, 0.95),
}
#: cards and IBANs: every column right, misnamed ones included (issue 18: one miss or one false alarm fails)
COLUMN_FLOORS = {"any": (0.95, 0.9), "card": (0.95, 0.95), "iban": (0.95, 0.95)}


@pytest.fixture(scope="module")
def report():
    return measure(build())


def test_precision_and_recall_meet_the_floors_and_are_printed(report, capsys):
    with capsys.disabled():
        print("\n[dlp] value level  " + "  ".join(
            f"{k} P={s.precision:.3f} R={s.recall:.3f}" for k, s in report.values.items()))
        print("[dlp] column level " + "  ".join(
            f"{k} P={s.precision:.3f} R={s.recall:.3f}" for k, s in report.columns.items()))
    for kind, (precision, recall) in VALUE_FLOORS.items():
        score = report.values[kind]
        assert score.precision >= precision and score.recall >= recall, (kind, score.precision, score.recall)
    for kind, score in report.columns.items():
        floor = COLUMN_FLOORS.get(kind, (0.9, 0.6))
        assert score.precision >= floor[0] and score.recall >= floor[1], (kind, score.precision, score.recall)


def test_the_docs_report_the_numbers_the_code_measures(report):
    """docs/dlp.md holds the generated tables verbatim: change a detector, regenerate the page."""
    page = (ROOT / "docs" / "dlp.md").read_text()
    block = re.search(r"<!-- measured: begin -->\n(.*?)\n<!-- measured: end -->", page, re.S)
    assert block, "docs/dlp.md lost its measured block"
    assert block.group(1).strip() == markdown(report).strip(), (
        "docs/dlp.md is stale: paste the output of `python -m policyengine.dlp.evaluate` (first part)")


def test_the_data_set_is_deterministic():
    first, second = build(), build()
    assert [c.values for c in first.columns] == [c.values for c in second.columns]
    assert sum(c.near_miss for c in first.columns) >= 15


# --- policyengine scan ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def labelled_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dlp") / "labelled.duckdb"
    write_duckdb(build(), path)
    return path


def copy_policies(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "policies"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("tests"))
    return target


def test_scan_reports_unclassified_and_unlisted_columns(labelled_db, tmp_path):
    policies = load_policy_set(EXAMPLE)
    report = scan(labelled_db, policies, sample=500, as_of=build().as_of)
    findings = {(c.table, c.column): c for c in report.findings()}
    assert findings[("customers", "email")].finding == "unclassified"
    assert findings[("customers", "email")].suggested == "restricted"
    assert findings[("contacts", "d1")].suggested == "confidential"
    # the example set has a contract for 'reviews': its unlisted free text holding e-mails is reported
    assert findings[("reviews", "body")].finding == "unlisted"
    assert ("payments", "acct_no") not in findings and ("network", "version") not in findings
    # issue 18: IBANs called 'code' and card numbers called 'serial' are reported; real codes are not
    assert {findings[("inventory", c)].verdict.kinds for c in ("code", "item_ref")} == {frozenset({"iban"})}
    assert {findings[("inventory", c)].verdict.kinds for c in ("serial", "order_ref")} == {frozenset({"card"})}
    assert findings[("inventory", "code")].suggested == "restricted"
    assert not {("inventory", c) for c in ("product_code", "serial_no", "tracking_number")} & findings.keys()
    assert {p.table for p in report.proposals} == {"customers", "contacts", "payments", "employees", "network",
                                                     "catalog", "tickets", "orders", "inventory"}
    assert check_proposals(EXAMPLE, report.proposals) == []  # the proposals load with the set


def test_scan_finds_a_column_labelled_below_what_it_holds(tmp_path):
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE buyers(id INTEGER, contact VARCHAR, tier VARCHAR)")
        con.executemany("INSERT INTO buyers VALUES (?, ?, ?)",
                        [(i, f"user{i}@example.com", "gold") for i in range(50)])
    policies = copy_policies(tmp_path)
    (policies / "tables" / "buyers.yaml").write_text(textwrap.dedent("""
        columns:
          - {name: id, type: INTEGER}
          - {name: contact, type: STRING, sensitivity: public}
          - {name: tier, type: STRING}
    """))
    report = scan(db, load_policy_set(policies))
    (only,) = report.findings()
    assert (only.column, only.label, only.suggested, only.finding) == ("contact", "public", "restricted",
                                                                       "under-labelled")


def test_scan_command_writes_contracts_that_load_and_prints_no_value(labelled_db, tmp_path, capsys):
    policies = copy_policies(tmp_path)
    code = run(["-p", str(policies), "scan", "--db", str(labelled_db), "customers", "payments", "--write"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"wrote {policies / 'tables' / 'customers.yaml'}" in out
    written = (policies / "tables" / "customers.yaml").read_text()
    assert "{name: email, type: STRING, sensitivity: restricted, protection: email" in written
    loaded = load_policy_set(policies)
    assert loaded.find_table("payments").column("card_number").protection.kind == "partial"
    data = {c.key: c for c in build().columns}
    assert not any(v in out for v in data["customers.email"].values[:50])  # counts, never values
    # the written contracts now describe the tables: a second scan finds nothing more
    assert run(["-p", str(policies), "scan", "--db", str(labelled_db), "customers", "payments", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    # a file in the way is never written over
    (policies / "tables" / "orders.yaml").write_text("table: legacy_orders\ncolumns:\n  - {name: id, type: INTEGER}\n")
    assert run(["-p", str(policies), "scan", "--db", str(labelled_db), "orders", "--write"]) == 0
    assert "the file exists" in capsys.readouterr().out
    assert "legacy_orders" in (policies / "tables" / "orders.yaml").read_text()


def test_scan_command_json_and_errors(labelled_db, tmp_path, capsys):
    assert run(["-p", str(EXAMPLE), "scan", "--db", str(labelled_db), "network", "-f", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {f["column"] for f in report["findings"]} == {"client_ip", "ipv6", "peer"}
    assert report["proposals"][0]["contract"]["table"] == "network"
    from policyengine.report.scan import read_findings

    findings_file = tmp_path / "findings.json"
    findings_file.write_text(json.dumps(report))
    assert {(f.table, f.column, f.sensitivity_suggested) for f in read_findings(findings_file)} == {
        ("network", "client_ip", "confidential"), ("network", "ipv6", "confidential"),
        ("network", "peer", "confidential")}  # the access report reads these findings as they are
    assert run(["-p", str(EXAMPLE), "scan", "--db", str(labelled_db), "nosuch"]) == 1
    assert "no table 'nosuch'" in capsys.readouterr().err
    assert run(["-p", str(EXAMPLE), "scan", "--db", str(tmp_path / "missing.duckdb")]) == 1


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


# --- the egress check ------------------------------------------------------------------------------------

def egress_set(root: Path, mode: str | None) -> Path:
    (root / "tables").mkdir(parents=True, exist_ok=True)
    (root / "policyengine.yaml").write_text(f"egress_check: {mode}\n" if mode else "unknown_table: deny\n")
    (root / "roles.yaml").write_text(textwrap.dedent("""
        roles:
          analyst: {clearance: public}
          support: {clearance: restricted}
        principals:
          alice: {roles: [analyst]}
          sam: {roles: [support]}
    """))
    (root / "tables" / "notes.yaml").write_text(textwrap.dedent("""
        columns:
          - {name: id, type: INTEGER}
          - {name: note, type: STRING, description: "labelled public, but customers write their e-mail in it"}
          - {name: version, type: STRING}
          - {name: email, type: STRING, sensitivity: restricted, protection: email}
    """))
    return root


NOTES = [(1, "write to ann@example.com please", "1.2.3.4", "bob@example.org"),
         (2, "nothing to see", "2.0.1.7", "carl@example.net"),
         (3, None, None, None)]


def notes_db(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE notes(id INTEGER, note VARCHAR, version VARCHAR, email VARCHAR)")
        con.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)", NOTES)
    return path


def egress_lines(audit: Path) -> list[dict]:
    if not audit.exists():
        return []
    return [e for e in map(json.loads, audit.read_text().splitlines()) if e.get("decision") == "egress"]


@pytest.fixture
def notes(tmp_path):
    return notes_db(tmp_path / "notes.duckdb")


def test_mask_masks_a_lowest_level_column_and_writes_an_audit_line(tmp_path, notes):
    audit = tmp_path / "audit.jsonl"
    engine = Engine.load(egress_set(tmp_path / "p", "mask"), notes, audit=audit)
    rows = engine.query("SELECT id, note, version, email FROM notes ORDER BY id", role="analyst").fetchall()
    assert rows[0] == (1, "write to ***** please", "1.2.3.4", "*****@example.org")  # email: its own protection
    assert rows[1][1] == "nothing to see" and rows[2] == (3, None, None, None)
    (line,) = egress_lines(audit)
    assert line["egress"]["columns"] == {"note": {"email": 1}} and line["egress"]["action"] == "masked"
    assert line["principal"] is None and line["roles"] == ["analyst"] and "ann@example.com" not in json.dumps(line)
    assert "note held email (masked)" in line["reason"]


def test_off_is_the_default_and_leaves_results_and_streams_alone(tmp_path, notes):
    audit = tmp_path / "audit.jsonl"
    for mode in (None, "off"):
        engine = Engine.load(egress_set(tmp_path / f"p{mode}", mode), notes, audit=audit)
        assert engine.policy_set.settings.egress_check == "off"
        result = engine.query("SELECT note FROM notes ORDER BY id", role="analyst")
        assert not isinstance(result._stream, EgressStream)  # no wrapper: no per-row cost
        assert result.fetchall()[0] == ("write to ann@example.com please",)
    assert egress_lines(audit) == []


def test_log_keeps_values_and_records_them(tmp_path, notes):
    audit = tmp_path / "audit.jsonl"
    engine = Engine.load(egress_set(tmp_path / "p", "log"), notes, audit=audit)
    assert engine.query("SELECT note FROM notes WHERE id = 1", role="analyst").fetchall() == [(NOTES[0][1],)]
    (line,) = egress_lines(audit)
    assert line["egress"]["action"] == "logged"


def test_only_columns_from_the_lowest_level_are_checked(tmp_path, notes):
    audit = tmp_path / "audit.jsonl"
    engine = Engine.load(egress_set(tmp_path / "p", "mask"), notes, audit=audit)
    # support reads the restricted email raw: neither it nor an expression over it is masked
    rows = engine.query("SELECT email, note || ' / ' || email AS both, upper(note) AS shout FROM notes WHERE id = 1",
                        role="support").fetchall()
    assert rows == [("bob@example.org", "write to ann@example.com please / bob@example.org",
                     "WRITE TO ***** PLEASE")]
    # a statement that reads no lowest-level column gets no wrapper at all
    result = engine.query("SELECT email FROM notes", role="support")
    assert not isinstance(result._stream, EgressStream)
    result.fetchall()
    # through a CTE, an alias and a union the source is still traced
    rows = engine.query("WITH t AS (SELECT note AS n FROM notes) SELECT n FROM t WHERE n IS NOT NULL "
                        "UNION ALL SELECT 'literal@example.com'", role="analyst").fetchall()
    assert sorted(rows) == [("*****",), ("nothing to see",), ("write to ***** please",)]


def test_arrow_and_dataframes_are_masked_too(tmp_path, notes):
    engine = Engine.load(egress_set(tmp_path / "p", "mask"), notes)
    table = engine.query("SELECT note FROM notes ORDER BY id", role="analyst").arrow()
    assert table.column(0).to_pylist()[0] == "write to ***** please"
    frame = engine.query("SELECT note FROM notes ORDER BY id", role="analyst").df()
    assert frame.iloc[0, 0] == "write to ***** please"


def test_dbapi_and_the_query_command_are_masked(tmp_path, notes, capsys):
    import policyengine

    policies = egress_set(tmp_path / "p", "mask")
    with policyengine.connect(str(notes), principal="alice", policies=str(policies)) as con:
        cursor = con.cursor()
        cursor.execute("SELECT note FROM notes WHERE id = 1")
        assert cursor.fetchall() == [("write to ***** please",)]
    audit = tmp_path / "cli-audit.jsonl"
    code = run(["-p", str(policies), "query", "--db", str(notes), "--audit", str(audit), "-r", "analyst",
                "-f", "json", "SELECT note FROM notes WHERE id = 1"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == [{"note": "write to ***** please"}]
    assert len(egress_lines(audit)) == 1
    assert run(["audit", "--audit", str(audit), "--decision", "egress", "-f", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["decision"] == "egress" and "note held email (masked)" in entry["reason"]


def test_an_unknown_mode_is_a_validation_error(tmp_path):
    root = egress_set(tmp_path / "p", "sometimes")
    with pytest.raises(PolicySetInvalid) as invalid:
        load_policy_set(root)
    assert "egress_check" in str(invalid.value.problems[0])


def test_egress_cost_is_bounded_per_value(tmp_path):
    """Checking costs time proportional to the text of the checked columns, nothing for the others."""
    import time

    db = tmp_path / "big.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE notes(id INTEGER, note VARCHAR, version VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO notes SELECT i, 'order ' || i || ' shipped to the depot on time', '1.0', "
                    "'x' || i || '@example.com' FROM range(50000) t(i)")
    engine = Engine.load(egress_set(tmp_path / "p", "mask"), db)
    started = time.perf_counter()
    rows = engine.query("SELECT note FROM notes", role="analyst").fetchall()
    assert len(rows) == 50000 and time.perf_counter() - started < 30


# --- the front door ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def egress_frontdoor(tmp_path_factory):
    from policyengine.server.server import Server
    from policyengine.server.users import load_users, set_password

    root = tmp_path_factory.mktemp("egress-server")
    policies = egress_set(root / "policies", "mask")
    database = notes_db(root / "demo.duckdb")  # psql helper connects to dbname=demo
    users = root / "users.yaml"
    set_password(users, "alice", "alice-pass-1")
    audit = root / "audit.jsonl"
    engine = Engine.load(policies, database, audit=audit)
    server = Server(engine, load_users(users), watch_interval=None)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve("127.0.0.1", 0, started=lambda p: (port.append(p), started.set())))
        except RuntimeError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    assert started.wait(30)
    yield port[0], audit
    loop.call_soon_threadsafe(loop.stop)
    engine.close()


def test_the_front_door_masks_with_psycopg(egress_frontdoor):
    import psycopg

    port, audit = egress_frontdoor
    dsn = f"host=127.0.0.1 port={port} user=alice password=alice-pass-1 dbname=demo sslmode=disable"
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT id, note FROM notes WHERE id = %s", (1,)).fetchall()
    assert rows == [(1, "write to ***** please")]
    assert any(line["egress"]["columns"] == {"note": {"email": 1}} and line["principal"] == "alice"
               for line in egress_lines(audit))


@needs_psql
def test_the_front_door_masks_with_psql(egress_frontdoor):
    port, _ = egress_frontdoor
    result = psql(port, "alice", "alice-pass-1", "SELECT note FROM notes WHERE id = 1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "write to ***** please"
