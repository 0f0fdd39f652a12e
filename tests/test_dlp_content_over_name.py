"""Issue 18: card numbers and IBANs that validate beyond chance outweigh a weak name hint.

A column of valid IBANs called ``code`` or ``sku``, or of card numbers called ``serial`` or ``order_ref``,
is personal data whatever its name says; the name only says "some identifier". Real codes of the same
shapes pass Luhn one time in ten and mod-97 one time in 97, and must still not be reported. Content that
no checksum validates (SSN-shaped part numbers, phone-shaped order numbers, IP-shaped versions) still
defers to the name.
"""

from __future__ import annotations

import math
import random
import string
from pathlib import Path

import duckdb
import pytest

from policyengine.dlp import detectors as d
from policyengine.dlp.classify import CHANCE, chance_of_at_least, classify_column, content_outweighs_name
from policyengine.dlp.labelled import build, card, iban, iban_ish, numeric_code, order_number, part_number, version
from policyengine.dlp.names import name_evidence
from policyengine.dlp.scan import scan
from policyengine.loading import load_policy_set
from tests.conftest import EXAMPLE

#: product-code-like names that rule cards or IBANs out by a generic word (code, item, part, serial...)
IBAN_WEAK_NAMES = ["sku", "product_code", "part_number", "item_id", "code", "supplier_code", "iban_code",
                   "ItemRef"]
CARD_WEAK_NAMES = ["serial", "serial_no", "order_ref", "tracking_no", "customer_id", "OrderReference"]


def ibans(n: int, seed: int = 1, spaced: bool | None = None) -> list[str]:
    r = random.Random(seed)
    return [iban(r, spaced) for _ in range(n)]


def cards(n: int, seed: int = 2, plain: bool = False) -> list[str]:
    r = random.Random(seed)
    return [card(r, plain) for _ in range(n)]


def chance_codes(n: int, prefix: str, seed: int = 3, length: int = 16) -> list[str]:
    """Codes that share a card scheme's prefix and pass Luhn only by chance."""
    r = random.Random(seed)
    return [numeric_code(r, prefix, length) for _ in range(n)]


def evidence_for(kind: str, name: str, values: list[str]) -> str | None:
    found = [e for e in classify_column(name, values).found if e.kind == kind]
    return found[0].detail if found else None


@pytest.mark.parametrize("name", IBAN_WEAK_NAMES)
def test_valid_ibans_are_found_under_a_product_code_name(name):
    assert name_evidence(name).rules_out("iban")  # the name does argue against IBANs...
    for spaced in (False, True):
        verdict = classify_column(name, ibans(300, spaced=spaced))
        assert "iban" in verdict.kinds, (name, spaced, verdict.found)  # ...and the checksums win
        # spaced IBANs are IBANs, not card numbers hidden inside them (which they were reported as)
        assert "card" not in verdict.kinds and "phone" not in verdict.kinds
        (evidence,) = [e for e in verdict.found if e.kind == "iban"]
        assert evidence.by == "content" and "outweighs the name" in evidence.detail


@pytest.mark.parametrize("name", CARD_WEAK_NAMES)
def test_valid_card_numbers_are_found_under_an_identifier_name(name):
    assert name_evidence(name).rules_out("card")
    for plain in (True, False):
        detail = evidence_for("card", name, cards(300, plain=plain))
        assert detail is not None and "outweighs the name" in detail, (name, plain)


@pytest.mark.parametrize("name", IBAN_WEAK_NAMES + CARD_WEAK_NAMES + ["sku_number", "part_no"])
def test_real_codes_that_pass_a_checksum_by_chance_are_not_reported(name):
    """The precision side: one code in ten passes Luhn, one in 97 mod-97, and that is not enough."""
    r = random.Random(name)
    visa_like, mastercard_like = chance_codes(300, "4", seed=5), chance_codes(300, "52", seed=6)
    passing = sum(1 for v in visa_like + mastercard_like if d.CARD.scan(v).spans)
    assert 30 < passing < 100  # about one in ten, as real codes do
    iban_like = [iban_ish(r) for _ in range(300)]
    for values in (visa_like, mastercard_like, iban_like):
        assert classify_column(name, values).kinds.isdisjoint({"card", "iban"}), name


def test_how_many_must_validate_before_content_outweighs_the_name():
    """Luhn passes one random code in ten: six that all pass could be chance (one in a million), seven
    are not. mod-97 passes one in 97: four IBANs are enough. A neutral name asks for no such count."""
    six, seven = cards(6, plain=True), cards(7, plain=True)
    assert "card" not in classify_column("serial", six).kinds
    assert "card" in classify_column("serial", seven).kinds
    assert "card" in classify_column("c7", six).kinds  # without the name, six are enough: the name counts
    assert "iban" not in classify_column("code", ibans(3)).kinds
    assert "iban" in classify_column("code", ibans(4)).kinds
    # mostly valid is not enough under a weak name: 80% of the candidates must validate
    mixed = cards(70, plain=True) + chance_codes(30, "4")
    valid = sum(1 for v in mixed if d.CARD.scan(v).spans)
    assert valid < 0.8 * len(mixed) and "card" not in classify_column("serial", mixed).kinds
    assert "card" in classify_column("serial", cards(90, plain=True) + chance_codes(10, "4")).kinds


def test_a_name_that_names_a_look_alike_format_still_wins():
    """IMEIs pass Luhn by design, and some carry a prefix a card scheme also uses (Maestro's 50): the
    name ``imei`` says what they are, which no checksum can. ``serial`` says only "an identifier"."""
    r = random.Random(7)
    imeis = [numeric_code(r, "50" + "".join(r.choice(string.digits) for _ in range(6)), length=14)
             for _ in range(300)]
    imeis = [next(c for c in (v + str(x) for x in range(10)) if d.luhn(c)) for v in imeis]
    assert all(d.CARD.scan(v).spans for v in imeis)  # every one looks like a valid Maestro card
    assert not name_evidence("device_imei").weakly_rules_out("card")
    assert "card" not in classify_column("device_imei", imeis).kinds
    assert "card" not in classify_column("ean", imeis).kinds
    assert "card" in classify_column("device_serial", imeis).kinds


@pytest.mark.parametrize("name, make, kind", [
    ("part_number", part_number, "us_ssn"),  # NNN-NN-NNNN: nine in ten pass the SSN ranges
    ("order_number", order_number, "phone"),  # NNN-NNN-NNNN: two in three are valid NANP numbers
    ("version", version, "ip_address"),  # 1.2.3.4: every one a valid IPv4 address
])
def test_content_no_checksum_validates_still_defers_to_the_name(name, make, kind):
    """Format rules a look-alike satisfies as a matter of course cannot outweigh a name."""
    r = random.Random(name)
    values = [make(r) for _ in range(300)]
    assert not content_outweighs_name(kind, name_evidence(name))
    assert kind not in classify_column(name, values).kinds


def test_ssn_shaped_part_numbers_are_ssns_but_for_the_name():
    r = random.Random(8)
    values = [part_number(r) for _ in range(300)]
    assert "us_ssn" in classify_column("c3", values).kinds  # content alone cannot tell...
    assert "us_ssn" not in classify_column("part_number", values).kinds  # ...so the name decides


def test_free_text_under_an_order_name():
    """``order_notes`` where customers typed their card numbers is found; ``order_comments`` quoting
    16-digit order numbers, a few of which pass Luhn, is not, though under a neutral name it would be."""
    columns = {c.key: c for c in build().columns}
    notes, comments = columns["inventory.order_notes"], columns["inventory.order_comments"]
    assert name_evidence("order_notes").rules_out("card")
    assert "card" in classify_column("order_notes", notes.values).kinds
    assert "card" not in classify_column("order_comments", comments.values).kinds
    assert "card" in classify_column("c12", comments.values).kinds  # the weak name still counts


def test_the_chance_is_the_binomial_tail():
    def exact(k: int, n: int, p: float) -> float:
        return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))

    for k, n, p in [(1, 1, 0.1), (7, 7, 0.1), (8, 10, 0.1), (30, 300, 0.1), (4, 4, 1 / 97), (5, 40, 1 / 97)]:
        assert chance_of_at_least(k, n, p) == pytest.approx(exact(k, n, p), rel=1e-9)
    assert chance_of_at_least(0, 10, 0.1) == 1.0
    assert chance_of_at_least(5000, 5000, 0.1) == 0.0  # 1e-5000 underflows to 0, not to an error
    assert 0 < chance_of_at_least(650, 5000, 0.1) < CHANCE < chance_of_at_least(550, 5000, 0.1)


def test_the_egress_check_judging_one_value_still_defers_to_the_name():
    """One value cannot show that a column validates beyond chance, so value level is unchanged: an
    IBAN in a ``sku`` column is left to the scan, which reports the column (above)."""
    value = ibans(1)[0]
    assert [h.kind for h in d.hits(value, name_evidence("payments_iban"))] == ["iban"]
    assert d.hits(value, name_evidence("sku")) == []


def test_scan_reports_a_misnamed_column_of_ibans_and_not_the_real_codes(tmp_path: Path):
    db = tmp_path / "shop.duckdb"
    r = random.Random(11)
    rows = list(zip(range(200), ibans(200), cards(200, plain=True), chance_codes(200, "4"),
                    [iban_ish(r) for _ in range(200)]))
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE products(id INTEGER, supplier_code VARCHAR, serial VARCHAR, "
                    "serial_no VARCHAR, sku VARCHAR)")
        con.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", rows)
    report = scan(db, load_policy_set(EXAMPLE))
    findings = {c.column: c for c in report.findings()}
    assert set(findings) == {"supplier_code", "serial"}
    assert findings["supplier_code"].verdict.kinds == {"iban"} and findings["serial"].verdict.kinds == {"card"}
    assert findings["supplier_code"].finding == "unclassified" and findings["supplier_code"].suggested == "restricted"
    assert "outweighs the name" in findings["serial"].row()["evidence"]
    (proposal,) = report.proposals
    columns = {c["name"]: c for c in proposal.contract["columns"]}
    assert columns["supplier_code"]["protection"] == {"kind": "partial", "show_last": 4}
    lowest = load_policy_set(EXAMPLE).settings.sensitivity_levels[0]
    for real_code in ("serial_no", "sku"):
        assert (columns[real_code]["sensitivity"], columns[real_code]["protection"]) == (lowest, "none")
