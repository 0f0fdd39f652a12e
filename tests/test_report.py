"""``policyengine report --html``: the access page, checked as a browser shows it.

The page is rendered by headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) and its
DOM read back (``--dump-dom``): every cell of the matrix must say what the decision says, the page
must stand alone (no script, nothing loaded from elsewhere), and no value of the data may appear on
it, even with the demo database beside it and sample values in the scan findings.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

from policyengine.cli import main
from policyengine.dbt import plan_import, write_plan
from policyengine.decision import Outcome, decide, subject_for
from policyengine.demo.data import build_demo_database
from policyengine.loading import load_policy_set
from policyengine.model import PolicySet
from policyengine.report import build_report, render_html
from policyengine.report.model import derivation_parents
from tests.conftest import EXAMPLE, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "dbt"
CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium to render the report: not installed (Debian: apt-get install -y "
                             "chromium; .ci/run installs it)")


# --- helpers ------------------------------------------------------------------------------------------

class Dom(HTMLParser):
    """The rendered DOM's cells (td/th with their attributes and text), rows, and all its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.cells: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._open: list[dict[str, Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag in ("td", "th", "tr"):
            entry = {"tag": tag, **attributes, "text": []}
            self._open.append(entry)
            (self.rows if tag == "tr" else self.cells).append(entry)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr"):
            while self._open:
                entry = self._open.pop()
                entry["text"] = " ".join("".join(entry["text"]).split())
                if entry["tag"] == tag:
                    break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for entry in self._open:
            entry["text"].append(data)

    def cell(self, role: str, env: str, table: str, column: str) -> dict[str, Any]:
        found = [c for c in self.cells if c.get("data-role") == role and c.get("data-env") == env
                 and c.get("data-table") == table and c.get("data-column") == column]
        assert len(found) == 1, (role, env, table, column, found)
        return found[0]

    def rows_cell(self, role: str, env: str, table: str) -> dict[str, Any]:
        return next(c for c in self.cells if c.get("data-role") == role and c.get("data-env") == env
                    and c.get("data-table") == table and "data-rows" in c)

    def row(self, table: str, column: str, within: str) -> dict[str, Any]:
        return next(r for r in self.rows if r.get("data-table") == table and r.get("data-column") == column
                    and within in r["text"])


def render_in_chromium(page: Path, profile: Path) -> Dom:
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "</html>" in result.stdout, result.stderr[-2000:]
    return Dom(result.stdout)


def run_cli(*args: str) -> tuple[int, str, str]:
    """The command line in-process (the caller captures output); returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exited:
            code = int(exited.code or 0)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def expected_label(policy_set: PolicySet, role: str, env: str, table: str, column: str) -> str:
    decision = decide(policy_set, subject_for(policy_set, roles=[role]), env, table)
    if not decision.allowed:
        return "no access"
    cell = decision.column(column)
    assert cell is not None
    if cell.outcome is Outcome.RAW:
        return "raw"
    if cell.outcome is Outcome.DENIED:
        return "denied"
    return f"masked ({cell.protection.kind})"


# --- the example policy set, as the browser shows it ------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_values(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A demo database, and values of it that are unmistakably data (names, e-mails, phones, ids)."""
    folder = tmp_path_factory.mktemp("demo")
    build_demo_database(folder / "demo.duckdb", users=300, reviews=300)
    with duckdb.connect(str(folder / "demo.duckdb"), read_only=True) as con:
        rows = con.execute(
            'SELECT "FullName", "Email", "Phone", "NationalID", "Iban" FROM user_demographics').fetchall()
    values = sorted({v for row in rows for v in row if isinstance(v, str) and len(v) >= 8})
    assert len(values) > 500
    return folder, values


@pytest.fixture(scope="module")
def findings_file(tmp_path_factory: pytest.TempPathFactory, demo_values: tuple[Path, list[str]]) -> Path:
    folder = tmp_path_factory.mktemp("scan")
    sample = demo_values[1][0]
    path = folder / "findings.json"
    path.write_text(json.dumps({"findings": [
        {"table": "user_demographics", "column": "City", "detector": "city_names",
         "sensitivity_declared": "confidential", "sensitivity_suggested": "restricted", "sample": sample,
         "confidence": 0.93},
        {"table": "reviews", "column": "ReviewText", "detector": "email_address",
         "sensitivity_declared": "confidential", "sensitivity_suggested": "confidential", "samples": [sample]},
        {"table": "verified_reviews", "column": "Location", "detector": "country_codes", "sensitivity_declared": None,
         "sensitivity_suggested": None},
        {"table": "orders", "column": "card", "detector": "luhn", "sensitivity_declared": "public",
         "sensitivity_suggested": "restricted"},
    ]}))
    return path


@pytest.fixture(scope="module")
def example_page(tmp_path_factory: pytest.TempPathFactory, demo_values: tuple[Path, list[str]],
                 findings_file: Path) -> Path:
    """The report of the example set, written by the command run beside the demo database."""
    folder, _ = demo_values
    page = folder / "out" / "report.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("POLICYENGINE_DB", str(folder / "demo.duckdb"))
        code, out, err = run_cli("-p", str(EXAMPLE), "report", "--html", "--out", str(page),
                                 "--scan", str(findings_file))
    assert code == 0, err
    tables = len(load_policy_set(EXAMPLE).tables)
    assert "wrote" in out and f"{tables} tables, 9 roles, 3 environments, 4 scan findings" in out
    return page


@pytest.fixture(scope="module")
def dom(example_page: Path, tmp_path_factory: pytest.TempPathFactory) -> Dom:
    if CHROMIUM is None:
        pytest.skip("needs Chromium to render the report: not installed (Debian: apt-get install -y chromium; "
                    ".ci/run installs it)")
    return render_in_chromium(example_page, tmp_path_factory.mktemp("chromium-profile"))


@needs_chromium
def test_the_matrix_shows_what_each_role_sees(dom: Dom):
    email = dom.cell("marketing_analyst", "prod", "user_demographics", "Email")
    assert email["text"] == "masked (email)" and email["data-kind"] == "email"
    assert dom.cell("marketing_analyst", "prod", "user_demographics", "Country")["text"] == "raw"
    assert dom.cell("marketing_analyst", "prod", "user_demographics", "NationalID")["text"] == "denied"
    assert dom.cell("support", "prod", "user_demographics", "Email")["text"] == "raw"  # unmask exception
    assert dom.cell("data_scientist", "prod", "verified_reviews", "UserID")["text"] == "masked (hash)"
    assert dom.cell("developer", "dev", "user_demographics", "Email")["text"] == "raw"
    assert dom.cell("developer", "staging", "user_demographics", "Email")["text"] == "masked (email)"
    phone = dom.cell("marketing_analyst", "prod", "user_demographics", "Phone")
    assert phone["text"] == "masked (partial)" and "show_last=4" in phone["title"]


@needs_chromium
def test_developers_have_no_access_in_prod_and_admins_read_everything_raw(dom: Dom, example: PolicySet):
    for table in example.tables.values():
        for column in table.columns:
            assert dom.cell("developer", "prod", table.name, column.name)["text"] == "no access"
            assert dom.cell("admin", "prod", table.name, column.name)["text"] == "raw"
        assert dom.rows_cell("developer", "prod", table.name)["text"] == "no access"
    clearance = {(c["data-role"], c["data-env"]): c["text"] for c in dom.cells if "data-clearance" in c}
    assert clearance[("developer", "prod")] == "no access"
    assert clearance[("developer", "dev")] == "restricted"
    assert clearance[("prod_database_reader", "dev")] == "no access"
    assert clearance[("admin", "staging")] == "restricted"


@needs_chromium
def test_every_cell_is_the_decision(dom: Dom, example: PolicySet):
    """The page cannot disagree with the engine: each of its cells is the decision for that role."""
    cells = [c for c in dom.cells if "data-column" in c and "data-role" in c]
    assert len(cells) == 9 * 3 * sum(len(t.columns) for t in example.tables.values())
    for cell in cells:
        assert cell["text"] == expected_label(example, cell["data-role"], cell["data-env"], cell["data-table"],
                                              cell["data-column"]), cell


@needs_chromium
def test_row_filters_are_shown_per_table(dom: Dom):
    assert "principal_attribute('region')" in dom.rows_cell("bi_analyst", "prod", "user_demographics")["text"]
    assert dom.rows_cell("marketing_analyst", "prod", "verified_reviews")["text"] == \
        "rows where Location IN ('US', 'GB', 'DE', 'FR')"
    assert dom.rows_cell("admin", "prod", "user_demographics")["text"] == "all rows (rule TRUE)"
    assert dom.rows_cell("reader", "prod", "user_demographics")["text"] == "no rows"  # no rule names reader
    assert dom.rows_cell("reader", "prod", "reviews")["text"] == "all rows"  # no row access rules at all


@needs_chromium
def test_lineage_and_scan_findings(dom: Dom, example: PolicySet):
    user_id = dom.row("verified_reviews", "UserID", "transactional:user_demographics.UserID")
    assert "as protected as its source" in user_id["text"]
    sentiment = dom.row("verified_reviews", "ReviewSentiment", "mlmodel:Sentiment")
    assert "outside this policy set" in sentiment["text"]
    verdicts = {(r["data-table"], r["data-column"]): r["data-verdict"] for r in dom.rows if "data-verdict" in r}
    assert verdicts == {("user_demographics", "City"): "under-classified", ("reviews", "ReviewText"): "consistent",
                        ("verified_reviews", "Location"): "consistent", ("orders", "card"): "unknown column"}
    # the derived-table section lists exactly the contracts that record a derivation
    recorded = {t.name for t in example.tables.values() if t.derivation_sql or "derived_from" in t.meta}
    shown = {r["data-table"] for r in dom.rows if r.get("data-derived") == "true"}
    assert shown == recorded
    assert any(tag == "section" and attrs.get("id") == "derived" for tag, attrs in dom.tags) == bool(recorded)


@needs_chromium
def test_the_page_shows_policy_not_data(dom: Dom, demo_values: tuple[Path, list[str]]):
    text = " ".join(dom.text)
    leaked = [value for value in demo_values[1] if value in text]
    assert leaked == []
    assert "@" not in text  # not one e-mail address, not even the scan's sample


@needs_chromium
def test_the_page_stands_alone(dom: Dom, example_page: Path):
    assert not any(tag in ("script", "iframe", "img", "link", "object", "embed") for tag, _ in dom.tags)
    for tag, attrs in dom.tags:
        for name in ("src", "href"):
            assert not attrs.get(name, "#").split("#")[0], (tag, attrs)  # only links within the page
    assert "Content-Security-Policy" in example_page.read_text() and "default-src 'none'" in example_page.read_text()


# --- a policy set imported from dbt: derived tables, lineage that copies protected data --------------------------

@pytest.fixture(scope="module")
def dbt_dom(tmp_path_factory: pytest.TempPathFactory) -> Dom:
    folder = tmp_path_factory.mktemp("dbt-report")
    policies = folder / "policies"
    shutil.copytree(EXAMPLE, policies)
    plan = plan_import(FIXTURE, load_policy_set(policies), manifest=FIXTURE / "target" / "manifest.json")
    assert plan.ok, plan.problems
    write_plan(plan)
    # an export that copies customers' e-mail addresses, and a role that is unmasked on the copy but
    # not on the original: the copy shows it what the original protects, and the report must say so
    (policies / "tables" / "exports.yaml").write_text(
        "table: newsletter_export\n"
        "description: 'Weekly export for the mailing tool <script>alert(1)</script>'\n"
        "meta: {derived_from: [main_marts.dim_customers, crm.optouts]}\n"
        "columns:\n"
        "  - {name: email, type: STRING, sensitivity: restricted, protection: email,\n"
        "     originatingSource: 'warehouse:main_marts.dim_customers.email'}\n")
    roles = policies / "roles.yaml"
    roles.write_text(roles.read_text().replace(
        "\nprincipals:", "\n  newsletter_tool:\n    description: The mailing tool's service role\n"
                       "    inherits: [reader]\n    unmask: [newsletter_export.email]\n\nprincipals:", 1))
    page = folder / "report.html"
    code, _, err = run_cli("-p", str(policies), "report", "--out", str(page))
    assert code == 0, err
    if CHROMIUM is None:
        pytest.skip("needs Chromium to render the report: not installed (Debian: apt-get install -y chromium; "
                    ".ci/run installs it)")
    return render_in_chromium(page, folder / "chromium-profile")


@needs_chromium
def test_derived_tables_are_listed_with_their_parents(dbt_dom: Dom):
    derived = {r["data-table"]: r["text"] for r in dbt_dom.rows if r.get("data-derived") == "true"}
    assert derived["main_marts.dim_customers"] == (
        "main_marts.dim_customers main.stg_users, main.stg_orders model.shop.customers")
    assert derived["main.stg_orders"] == "main.stg_orders raw.orders (no contract) model.shop.stg_orders"
    assert derived["newsletter_export"] == "newsletter_export main_marts.dim_customers, crm.optouts (no contract)"
    links = {attrs["href"] for tag, attrs in dbt_dom.tags if tag == "a"}
    assert {"#t-main-stg-users", "#t-main-stg-orders", "#t-main-marts-dim-customers"} <= links


@needs_chromium
def test_lineage_flags_a_copy_less_protected_than_its_source(dbt_dom: Dom):
    export = dbt_dom.row("newsletter_export", "email", "dim_customers.email")
    assert "raw where the source is protected: newsletter_tool in dev, newsletter_tool in staging, " \
           "newsletter_tool in prod" in export["text"]
    assert "labelled below" not in export["text"]  # the loader refuses that; here the label is the same
    assert dbt_dom.cell("newsletter_tool", "prod", "newsletter_export", "email")["text"] == "raw"
    assert dbt_dom.cell("newsletter_tool", "prod", "main_marts.dim_customers", "email")["text"] == "masked (email)"
    ok = dbt_dom.row("main.stg_users", "email", "raw:users.email")
    assert "as protected as its source" in ok["text"]
    assert dbt_dom.cell("marketing_analyst", "prod", "main_marts.dim_customers", "email")["text"] == "masked (email)"


@needs_chromium
def test_names_and_descriptions_never_become_markup(dbt_dom: Dom):
    assert not any(tag == "script" for tag, _ in dbt_dom.tags)
    assert "Weekly export for the mailing tool <script>alert(1)</script>" in " ".join(dbt_dom.text)


# --- without a browser --------------------------------------------------------------------------------------------

def test_without_scan_the_page_says_none_was_given(tmp_path: Path):
    page = tmp_path / "r.html"
    code, out, _ = run_cli("-p", str(EXAMPLE), "report", "--html", "--out", str(page),
                           "--role", "admin", "--env", "prod")
    assert code == 0 and f"{len(load_policy_set(EXAMPLE).tables)} tables, 1 roles, 1 environments" in out
    text = page.read_text()
    assert "No scan findings were given" in text
    assert 'data-role="developer"' not in text


def test_csv_and_json_give_the_matrix_in_long_form(capsys: pytest.CaptureFixture[str], example: PolicySet):
    code, out, _ = run_cli("-p", str(EXAMPLE), "report", "--format", "csv",
                           "--role", "marketing_analyst", "--env", "prod")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "table,column,role,environment,sees,outcome,protection,rows,row_filter"
    assert "user_demographics,Email,marketing_analyst,prod,masked (email),masked,email,rules,(TRUE)" in lines
    assert len(lines) == 1 + sum(len(t.columns) for t in example.tables.values())
    code, out, _ = run_cli("-p", str(EXAMPLE), "report", "--format", "json")
    report = json.loads(out)
    assert report["clearance"]["developer"]["prod"] is None
    assert {"table": "user_demographics", "column": "Email", "role": "admin", "environment": "prod", "sees": "raw",
            "outcome": "raw", "protection": "", "rows": "rules", "row_filter": "(TRUE)"} in report["matrix"]
    assert report["findings"] is None
    assert {d["table"] for d in report["derived"]} == {t.name for t in example.tables.values() if t.derivation_sql}


@pytest.mark.parametrize(("content", "expected"), [
    ('[{"table": 1, "column": "x"}]', ["findings.json: [0].table: expected text, got the number 1",
                                       "findings.json: [0].detector: expected text, got nothing (null)"]),
    ('{"findings": [{"table": "t", "column": "c", "detector": "d", "sensitivity_suggested": 3}]}',
     ["findings.json: findings[0].sensitivity_suggested: expected a level name or null, got the number 3"]),
    ('{"findings": 1}', ["findings.json: findings: expected a list of findings ({table, column, detector, ...})"]),
    ('[{"a": 1}, {"a": 1, "a": 2}]', ["findings.json: line 1, column 21: key 'a' is given twice in one object "
                                      "(first on line 1)"]),
])
def test_malformed_scan_findings_are_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str,
                                             expected: list[str]):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "findings.json").write_text(content)
    code, _, err = run_cli("-p", str(EXAMPLE), "report", "--html", "--scan", "findings.json")
    assert code == 1
    assert err.splitlines()[:len(expected)] == expected
    assert not (tmp_path / "report.html").exists()


def test_unknown_roles_and_environments_are_usage_errors():
    code, _, err = run_cli("-p", str(EXAMPLE), "report", "--role", "ghost")
    assert code == 1 and "unknown role 'ghost'" in err
    code, _, err = run_cli("-p", str(EXAMPLE), "report", "--env", "qa")
    assert code == 1 and "unknown environment 'qa'" in err


def test_lineage_flags_a_column_labelled_below_its_source(example: PolicySet):
    """The loader refuses such a set now; the report still says so of one that was built otherwise."""
    table = example.tables["verified_reviews"]
    columns = tuple(dataclasses.replace(c, sensitivity="public") if c.name == "UserID" else c for c in table.columns)
    lowered = dataclasses.replace(example, tables={**example.tables,
                                                   "verified_reviews": dataclasses.replace(table, columns=columns)})
    edge = next(e for e in build_report(lowered).lineage if (e.table, e.column) == ("verified_reviews", "UserID"))
    assert edge.below_source and (edge.sensitivity, edge.source_sensitivity) == ("public", "confidential")
    assert ("marketing_analyst", "prod") in edge.exposed_to and ("admin", "prod") not in edge.exposed_to
    assert "labelled below its source (public &lt; confidential)" in render_html(build_report(lowered))


def test_derivation_sql_names_the_parents():
    sql = """CREATE TABLE s.summary AS WITH x AS (SELECT * FROM raw.events) SELECT * FROM x JOIN users USING (id)
             JOIN users AS again USING (id)"""
    assert sorted(derivation_parents(sql)) == ["raw.events", "users"]
    assert derivation_parents("SELECT * FROM {{ ref('x') }}") == []
