"""A deterministic, labelled data set for measuring the detectors: real-looking PII and its near-misses.

Every column says what it truly holds (column-level truth) and every value which kinds it contains
(value-level truth), so precision and recall can be computed for each detector and each column. The
near-misses are the values a classifier gets wrong in practice: order numbers written like phone
numbers, 16-digit account IDs (one in ten passes Luhn by chance), EAN barcodes, IBAN-shaped product
codes, part numbers shaped like SSNs, voucher codes shaped like National Insurance numbers, software
versions that are valid IPv4 addresses, release dates spread like birth dates, city and first names
used as product names, and ``name@version`` / ``logo@2x.png`` text next to real e-mail addresses.
Some columns have neutral names (``c5``, ``peer``, ``acct_no``) so that content alone is measured, and
some names argue against their content (IBANs called ``code``, card numbers called ``serial``, beside real
codes of the same shapes under such names) so that validated content is measured against a weak name.

The generator uses only :mod:`random` with a fixed seed and word lists written here (not Faker, whose
lists the person-name detector uses: the test names must not be drawn from the detector's gazetteer),
so the same seed gives the same data on every machine and version.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: the day the data set is "taken": dates of birth are judged against it, not against today
AS_OF = dt.date(2025, 6, 30)
ROWS = 300

FIRST = ("James Mary Olivia Liam Noah Emma Sophia Lucas Mia Hannah Lukas Leon Anna Lea Marie Louis Chloé Camille "
         "Hugo Léa Giulia Francesco Sofia Alessandro Lucía Mateo Martina Daniel Sara Jan Eva Piotr Agnieszka "
         "Oliver Amelia Isla Jack Harry Ava Aarav Priya Wei Yuki Hiroshi Fatima Omar Ahmed Chen Mohammed Ingrid "
         "Sven Astrid Lars Nils Freya Siobhán Declan Aoife Tomás Kwame Amara Thandiwe Jorge Valentina").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Müller Schmidt Schneider Fischer Weber Martin "
        "Bernard Dubois Thomas Robert Rossi Russo Ferrari Esposito Bianchi García Fernández López Martínez "
        "Sánchez Kowalski Nowak Wiśniewski Jansen Bakker Andersson Johansson Karlsson Nilsson Murphy Kelly "
        "O'Brien Walsh Patel Sharma Singh Kumar Wang Li Zhang Tanaka Suzuki Sato Kim Lee Park Nguyen Silva "
        "Santos Oliveira Mensah Okafor Dlamini Haddad").split()
CITIES = ("London Manchester Berlin Munich Hamburg Paris Lyon Marseille Madrid Barcelona Rome Milan Naples "
          "Amsterdam Rotterdam Vienna Zurich Geneva Brussels Lisbon Porto Dublin Cork Oslo Stockholm Copenhagen "
          "Helsinki Warsaw Krakow Prague Budapest Athens Chicago Houston Phoenix Seattle Denver Boston Austin "
          "Toronto Vancouver Montreal Sydney Melbourne Auckland Tokyo Osaka Singapore Mumbai Nairobi Lagos").split()
CITIES += ["New York", "San Francisco", "Los Angeles", "Cape Town", "Buenos Aires", "Rio de Janeiro"]
STREETS = ("Baker High Station Church Mill Park Victoria King Queen Oak Elm Maple Cedar Pine Lake Hill Bridge "
           "Market Chapel Green").split()
SUFFIXES = ["Street", "Road", "Avenue", "Lane", "Drive", "Close", "Way", "Court", "Place", "St", "Rd", "Ave"]
DOMAINS = ["gmail.com", "yahoo.co.uk", "outlook.com", "web.de", "orange.fr", "example.org", "proton.me",
           "mail.company.io", "uni-heidelberg.de", "hotmail.com"]
PRODUCT_WORDS = ["Lounge Chair", "Tote", "Lamp", "Sofa", "Runner", "Desk", "Mirror", "Jacket", "Backpack", "Mug",
                 "Throw", "Bookcase", "Sneaker", "Coat", "Rug"]
SENTENCES = [
    "Great product, arrived quickly.", "The strap broke after two weeks.", "Exactly as described, would buy again.",
    "Colour is darker than in the photos.", "Sizing runs small, order one up.",
    "Packaging was damaged but the item is fine.",
    "Customer service was helpful.", "Battery lasts about 3 days.", "Not worth the price.", "Five stars from me!",
    "Assembly took 45 minutes with two people.", "Smells a bit of plastic at first.",
]
#: text that looks like PII to a careless pattern and is not
DECOYS: list[Callable[[random.Random], str]] = [
    lambda r: f"Order #{r.randint(200, 999)}-{r.randint(200, 999)}-{r.randint(1000, 9999)} took three weeks.",
    lambda r: f"Works with firmware {r.randint(1, 4)}.{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)} only.",
    lambda r: "The logo@2x.png in the listing was blurry.",
    lambda r: f"Needed lodash@4.17.{r.randint(10, 21)} for the companion app.",
    lambda r: f"Tagged @{r.choice(FIRST).lower()} in the photos.",
    lambda r: (f"Dimensions {r.randint(40, 200)}x{r.randint(30, 90)}x{r.randint(20, 80)} cm, "
               f"{r.randint(2, 30)}.{r.randint(0, 9)} kg."),
    lambda r: f"Bought on {r.randint(2019, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}, still fine.",
]


@dataclass
class LabelledColumn:
    """One column of the data set, with its truth."""

    table: str
    name: str
    sql_type: str  # VARCHAR, DATE, BIGINT, DOUBLE, INTEGER, TIMESTAMP
    values: list[Any]
    #: the kinds of personal data this column holds (column-level truth); empty for a near-miss
    kinds: frozenset[str]
    #: per value, the kinds it contains (value-level truth, for the value detectors)
    value_kinds: list[frozenset[str]]
    note: str = ""
    near_miss: bool = False

    @property
    def key(self) -> str:
        return f"{self.table}.{self.name}"


@dataclass
class LabelledSet:
    columns: list[LabelledColumn] = field(default_factory=list)
    as_of: dt.date = AS_OF

    def tables(self) -> dict[str, list[LabelledColumn]]:
        grouped: dict[str, list[LabelledColumn]] = {}
        for column in self.columns:
            grouped.setdefault(column.table, []).append(column)
        return grouped


# --- value makers ----------------------------------------------------------------------------------------

def _luhn_complete(prefix: str, length: int, r: random.Random) -> str:
    body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        candidate = body + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def card(r: random.Random, plain: bool = False) -> str:
    scheme = r.choice(["visa", "visa", "mastercard", "mastercard", "amex", "discover"])
    if scheme == "visa":
        number = _luhn_complete("4", 16, r)
    elif scheme == "mastercard":
        number = _luhn_complete(str(r.randint(51, 55)), 16, r)
    elif scheme == "amex":
        number = _luhn_complete(r.choice(["34", "37"]), 15, r)
    else:
        number = _luhn_complete("6011", 16, r)
    if plain:
        return number
    sep = r.choice([" ", " ", "-", ""])
    if len(number) == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def _iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{98 - number % 97:02d}"


IBAN_FORMATS = {"DE": "n18", "GB": "a4n14", "FR": "n10c11n2", "NL": "a4n10", "ES": "n20", "IT": "a1n10c12",
                "BE": "n12", "AT": "n16", "CH": "n17", "PL": "n24"}


def _bban(spec: str, r: random.Random) -> str:
    out = []
    for kind, count in ((s[0], int(s[1:])) for s in _split_spec(spec)):
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[kind]
        out.append("".join(r.choice(pool) for _ in range(count)))
    return "".join(out)


def _split_spec(spec: str) -> list[str]:
    parts, current = [], ""
    for char in spec:
        if char.isalpha() and current:
            parts.append(current)
            current = ""
        current += char
    parts.append(current)
    return parts


def iban(r: random.Random, spaced: bool | None = None) -> str:
    country = r.choice(list(IBAN_FORMATS))
    bban = _bban(IBAN_FORMATS[country], r)
    compact = country + _iban_check(country, bban) + bban
    if spaced if spaced is not None else r.random() < 0.5:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact


def ssn(r: random.Random, sep: str = "-") -> str:
    while True:
        area = r.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}{sep}{r.randint(1, 99):02d}{sep}{r.randint(1, 9999):04d}"


def nino(r: random.Random) -> str:
    first = r.choice([c for c in string.ascii_uppercase if c not in "DFIQUV"])
    while True:
        second = r.choice([c for c in string.ascii_uppercase if c not in "DFIOQUV"])
        if first + second not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    digits = "".join(r.choice(string.digits) for _ in range(6))
    suffix = r.choice("ABCD")
    if r.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


NANP_AREAS = ["212", "213", "312", "415", "617", "646", "702", "713", "718", "303", "206", "512", "404", "305",
              "503", "602", "612", "617", "808", "917"]


def us_phone(r: random.Random) -> str:
    area = r.choice(NANP_AREAS)
    exchange = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(2, 9)}"
    line = f"{r.randint(0, 9999):04d}"
    style = r.randrange(7)
    if style == 5:
        return f"{area}{exchange}{line}"  # bare digits: a phone only because the column says so
    if style == 6:
        return f"{area}-{exchange}-{line}x{r.randint(1, 9999)}"  # with an extension
    if style == 0:
        return f"({area}) {exchange}-{line}"
    if style == 1:
        return f"{area}-{exchange}-{line}"
    if style == 2:
        return f"+1 {area} {exchange} {line}"
    if style == 3:
        return f"{area}.{exchange}.{line}"
    return f"1-{area}-{exchange}-{line}"


def intl_phone(r: random.Random) -> str:
    style = r.randrange(4)
    if style == 0:
        return f"+44 7{r.randint(100, 999)} {r.randint(100000, 999999)}"
    if style == 1:
        return f"+49 {r.choice(['30', '89', '40', '221'])} {r.randint(1000000, 99999999)}"
    if style == 2:
        return "+33 " + " ".join([str(r.choice([1, 6, 7]))] + [f"{r.randint(0, 99):02d}" for _ in range(4)])
    return f"+1 {r.choice(NANP_AREAS)}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}"


def uk_national_phone(r: random.Random) -> str:
    if r.random() < 0.5:
        return f"020 {r.randint(7000, 8999)} {r.randint(0, 9999):04d}"
    return f"07{r.randint(100, 999)} {r.randint(100, 999)} {r.randint(100, 999)}"


def email(r: random.Random) -> str:
    first, last = _ascii(r.choice(FIRST)).lower(), _ascii(r.choice(LAST)).lower().replace("'", "")
    style = r.randrange(5)
    local = [f"{first}.{last}", f"{first[0]}{last}", f"{first}{r.randint(1, 99)}", f"{first}.{last}+shop",
             f"{last}_{first}"][style]
    domain = r.choice(DOMAINS)
    return f"{local}@{domain.upper() if r.random() < 0.05 else domain}"


def _ascii(text: str) -> str:
    table = str.maketrans("éáíóúñüöäśłćèàç", "eaiounuoaslceac")
    return text.translate(table)


def full_name(r: random.Random) -> str:
    if r.random() < 0.15:
        return f"{r.choice(FIRST)} {r.choice(string.ascii_uppercase)}. {r.choice(LAST)}"
    return f"{r.choice(FIRST)} {r.choice(LAST)}"


def birth_date(r: random.Random) -> dt.date:
    return dt.date(1935, 1, 1) + dt.timedelta(days=r.randint(0, (dt.date(2006, 12, 31) - dt.date(1935, 1, 1)).days))


def date_between(r: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=r.randint(0, (end - start).days))


def street(r: random.Random) -> str:
    if r.random() < 0.2:
        return f"{r.choice(['Haupt', 'Bahnhof', 'Schiller', 'Goethe', 'Garten'])}straße {r.randint(1, 120)}"
    return f"{r.randint(1, 250)} {r.choice(STREETS)} {r.choice(SUFFIXES)}"


def uk_postcode(r: random.Random) -> str:
    area = r.choice(["SW", "EC", "M", "B", "LS", "G", "EH", "N", "W", "BS", "CF", "NE"])
    district = str(r.randint(1, 20))
    return f"{area}{district} {r.randint(0, 9)}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}"


def ipv4(r: random.Random) -> str:
    style = r.randrange(3)
    if style == 0:
        return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
    if style == 1:
        return f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}"
    return f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def ipv6(r: random.Random) -> str:
    groups = [f"{r.randint(0, 0xffff):x}" for _ in range(8)]
    if r.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def version(r: random.Random) -> str:
    if r.random() < 0.7:
        return f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 40)}.{r.randint(0, 250)}"
    return f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 40)}"


def ean13(r: random.Random) -> str:
    body = str(r.randint(400, 440)) + "".join(r.choice(string.digits) for _ in range(9))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def iban_ish(r: random.Random) -> str:
    """A product code that starts like an IBAN (country, two digits) and fails mod-97 (99 times in 100)."""
    country = r.choice(list(IBAN_FORMATS))
    body = "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(IBAN_LENGTHS_FOR_CODES[country]))
    return f"{country}{r.randint(10, 99)}{body}"


IBAN_LENGTHS_FOR_CODES = {"DE": 18, "GB": 18, "FR": 23, "NL": 14, "ES": 20, "IT": 23, "BE": 12, "AT": 16, "CH": 17,
                          "PL": 24}


def order_number(r: random.Random) -> str:
    return f"{r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}"


def part_number(r: random.Random) -> str:
    return f"{r.randint(100, 999)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}"


def numeric_code(r: random.Random, prefix: str, length: int = 16, grouped: bool = False) -> str:
    """An internal serial or tracking number: a fixed prefix (one a card scheme also uses), then random
    digits, so one in ten passes Luhn by chance, as real codes do."""
    digits = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix)))
    return " ".join(digits[i:i + 4] for i in range(0, length, 4)) if grouped else digits


def voucher(r: random.Random) -> str:
    return ("".join(r.choice(string.ascii_uppercase) for _ in range(2)) + f"{r.randint(0, 999999):06d}"
            + r.choice(string.ascii_uppercase))


# --- the data set ----------------------------------------------------------------------------------------

def build(seed: int = 20250630, rows: int = ROWS) -> LabelledSet:
    """The labelled data set; the same seed gives the same values everywhere."""
    r = random.Random(seed)
    out = LabelledSet()

    def add(table: str, name: str, sql_type: str, kinds: set[str], make: Callable[[], Any], note: str = "",
            near_miss: bool = False, value_kinds: set[str] | None = None) -> None:
        values = [make() for _ in range(rows)]
        each = frozenset(kinds if value_kinds is None else value_kinds)
        out.columns.append(LabelledColumn(table, name, sql_type, values, frozenset(kinds), [each] * rows, note,
                                          near_miss))

    def add_text(table: str, name: str, kinds: set[str], embed: dict[str, tuple[float, Callable[[], str]]],
                 decoy_rate: float, note: str) -> None:
        values: list[str] = []
        labels: list[frozenset[str]] = []
        templates = {
            "email": ["Contact me at {} if you need photos.", "Reply to {} please.", "My address is {}."],
            "phone": ["Seller never answered, call me on {}.", "Ring {} after 6pm.", "Phone: {}"],
            "card": ["I was charged twice on card {}, please refund.", "Card {} was declined although it is valid.",
                     "Please stop billing {}."],
        }
        for _ in range(rows):
            parts = [r.choice(SENTENCES)]
            found: set[str] = set()
            for kind, (rate, make) in embed.items():
                if r.random() < rate:
                    parts.append(r.choice(templates[kind]).format(make()))
                    found.add(kind)
            if r.random() < decoy_rate:
                parts.append(r.choice(DECOYS)(r))
            if "card" in embed and r.random() < 0.1:  # a reference number grouped like a card: not a card
                parts.append("Reference " + " ".join(f"{r.randint(0, 9999):04d}" for _ in range(4)) + ".")
            r.shuffle(parts)
            values.append(" ".join(parts))
            labels.append(frozenset(found))
        out.columns.append(LabelledColumn(table, name, "VARCHAR", values, frozenset(kinds), labels, note))

    none: set[str] = set()
    # customers: the obvious columns, well named
    add("customers", "customer_id", "VARCHAR", none, lambda: f"C{r.randint(0, 999999):06d}", "ID")
    add("customers", "full_name", "VARCHAR", {"person_name"}, lambda: full_name(r))
    add("customers", "first_name", "VARCHAR", {"person_name"}, lambda: r.choice(FIRST))
    add("customers", "last_name", "VARCHAR", {"person_name"}, lambda: r.choice(LAST))
    add("customers", "email", "VARCHAR", {"email"}, lambda: email(r))
    add("customers", "phone", "VARCHAR", {"phone"}, lambda: us_phone(r), "US formats")
    add("customers", "date_of_birth", "DATE", {"date_of_birth"}, lambda: birth_date(r))
    add("customers", "city", "VARCHAR", {"location"}, lambda: r.choice(CITIES))
    add("customers", "street_address", "VARCHAR", {"location"}, lambda: street(r))
    add("customers", "postcode", "VARCHAR", {"location"}, lambda: uk_postcode(r), "UK")
    add("customers", "zip", "VARCHAR", {"location"}, lambda: f"{r.randint(1001, 99950):05d}", "US ZIP")
    add("customers", "country", "VARCHAR", none, lambda: r.choice(["US", "GB", "DE", "FR", "ES", "IT", "NL"]))
    add("customers", "signup_date", "DATE", none, lambda: date_between(r, dt.date(2021, 1, 1), AS_OF),
        "recent dates", near_miss=True)
    add("customers", "loyalty_tier", "VARCHAR", none, lambda: r.choice(["bronze", "silver", "gold"]))
    # contacts: neutral names, so content alone decides
    add("contacts", "mobile", "VARCHAR", {"phone"}, lambda: intl_phone(r), "+44/+49/+33/+1")
    add("contacts", "t2", "VARCHAR", {"phone"}, lambda: uk_national_phone(r), "UK national format, neutral name")
    add("contacts", "c5", "VARCHAR", {"person_name"}, lambda: full_name(r), "full names, neutral name")
    add("contacts", "contact", "VARCHAR", {"email"}, lambda: email(r), "e-mails, neutral name")
    add("contacts", "d1", "DATE", {"date_of_birth"}, lambda: birth_date(r), "birth dates, neutral name")
    add("contacts", "birthday", "VARCHAR", {"date_of_birth"}, lambda: birth_date(r).strftime("%d/%m/%Y"))
    add("contacts", "dob", "VARCHAR", {"date_of_birth"}, lambda: birth_date(r).isoformat())
    add("contacts", "c9", "VARCHAR", {"location"}, lambda: r.choice(CITIES), "city names, neutral name")
    # payments
    add("payments", "card_number", "VARCHAR", {"card"}, lambda: card(r))
    add("payments", "field3", "VARCHAR", {"card"}, lambda: card(r, plain=True), "bare digits, neutral name")
    add("payments", "iban", "VARCHAR", {"iban"}, lambda: iban(r))
    add("payments", "acct", "VARCHAR", {"iban"}, lambda: iban(r, spaced=False), "neutral name")
    add("payments", "acct_no", "VARCHAR", none, lambda: f"{r.randint(10**15, 10**16 - 1)}",
        "random 16-digit IDs (one in ten passes Luhn)", near_miss=True)
    add("payments", "ean", "VARCHAR", none, lambda: ean13(r), "EAN-13 barcodes starting 40-44", near_miss=True)
    add("payments", "order_number", "VARCHAR", none, lambda: order_number(r), "NNN-NNN-NNNN", near_miss=True)
    add("payments", "oid", "VARCHAR", none, lambda: order_number(r), "NNN-NNN-NNNN, neutral name", near_miss=True)
    add("payments", "amount", "DOUBLE", none, lambda: round(r.uniform(1, 2000), 2))
    # employees
    add("employees", "ssn", "VARCHAR", {"us_ssn"}, lambda: ssn(r))
    add("employees", "social_security_no", "VARCHAR", {"us_ssn"}, lambda: ssn(r, sep=""), "bare nine digits")
    add("employees", "tax_ref", "VARCHAR", {"us_ssn"}, lambda: ssn(r, sep=" "), "spaced SSNs, neutral name")
    add("employees", "ni_number", "VARCHAR", {"uk_nino"}, lambda: nino(r))
    add("employees", "part_number", "VARCHAR", none, lambda: part_number(r), "NNN-NN-NNNN", near_miss=True)
    add("employees", "voucher", "VARCHAR", none, lambda: voucher(r), "AA999999A codes", near_miss=True)
    add("employees", "hire_date", "DATE", none, lambda: date_between(r, dt.date(2000, 1, 1), AS_OF), near_miss=True)
    # network
    add("network", "client_ip", "VARCHAR", {"ip_address"}, lambda: ipv4(r))
    add("network", "ipv6", "VARCHAR", {"ip_address"}, lambda: ipv6(r))
    add("network", "peer", "VARCHAR", {"ip_address"}, lambda: ipv4(r) if r.random() < 0.6 else ipv6(r),
        "v4 and v6, neutral name")
    add("network", "version", "VARCHAR", none, lambda: version(r), "1.2.3.4 versions", near_miss=True)
    add("network", "tag", "VARCHAR", none, lambda: version(r), "versions, neutral name", near_miss=True)
    add("network", "mac", "VARCHAR", none, lambda: ":".join(f"{r.randint(0, 255):02x}" for _ in range(6)),
        "MAC addresses", near_miss=True)
    add("network", "session_uuid", "VARCHAR", none, lambda: (
        f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-4{r.getrandbits(12):03x}-{r.getrandbits(16):04x}-"
        f"{r.getrandbits(48):012x}"))
    # catalog: the near-misses of names and places
    add("catalog", "product_name", "VARCHAR", none, lambda: f"{r.choice(CITIES)} {r.choice(PRODUCT_WORDS)}",
        "city + product word", near_miss=True)
    add("catalog", "line", "VARCHAR", none, lambda: r.choice(CITIES), "collections named after cities", near_miss=True)
    add("catalog", "model", "VARCHAR", none, lambda: r.choice(FIRST), "models named after first names", near_miss=True)
    add("catalog", "designer_pick", "VARCHAR", none, lambda: f"{r.choice(FIRST)} {r.choice(PRODUCT_WORDS)}",
        "first name + product word", near_miss=True)
    add("catalog", "sku", "VARCHAR", none, lambda: iban_ish(r), "IBAN-shaped codes", near_miss=True)
    add("catalog", "article", "VARCHAR", none, lambda: iban_ish(r), "IBAN-shaped codes, neutral name", near_miss=True)
    add("catalog", "release_date", "DATE", none, lambda: date_between(r, dt.date(1950, 1, 1), dt.date(2012, 12, 31)),
        "spread like birth dates", near_miss=True)
    add("catalog", "d2", "DATE", none, lambda: date_between(r, dt.date(2015, 1, 1), AS_OF),
        "recent dates, neutral name", near_miss=True)
    add("catalog", "price", "DOUBLE", none, lambda: round(r.uniform(5, 900), 2))
    add("catalog", "stock", "INTEGER", none, lambda: r.randint(0, 5000))
    add_text("catalog", "description", none, {}, 0.5, "free text with decoys only")
    # free text: PII inside some values
    add_text("reviews", "body", {"email", "phone"},
             {"email": (0.15, lambda: email(r)), "phone": (0.10, lambda: us_phone(r))}, 0.3,
             "15% e-mails, 10% phones, decoys")
    add_text("tickets", "message", {"card"}, {"card": (0.08, lambda: card(r))}, 0.3, "8% card numbers, decoys")
    # free text naming people or places: the scan has no named-entity model, so these are expected misses
    notes: list[str] = []
    note_labels: list[frozenset[str]] = []
    for _ in range(rows):
        if r.random() < 0.3:
            notes.append(f"Spoke with {full_name(r)}, "
                         f"{r.choice(['refund agreed', 'will call back', 'sent a new label'])}.")
            note_labels.append(frozenset({"person_name"}))
        else:
            notes.append(r.choice(["Refund agreed.", "Waiting for the courier.", "Closed, duplicate ticket.",
                                   "Escalated to tier 2."]))
            note_labels.append(frozenset())
    out.columns.append(LabelledColumn("tickets", "agent_notes", "VARCHAR", notes, frozenset({"person_name"}),
                                      note_labels, "30% name a person in a sentence"))
    add("orders", "delivery_instructions", "VARCHAR", {"location"},
        lambda: f"Leave at {street(r)}, {r.choice(CITIES)}" if r.random() < 0.5 else r.choice(
            ["Ring twice.", "Leave with a neighbour.", "Back door please."]),
        "half name a street address in a sentence")
    add("reviews", "rating", "INTEGER", none, lambda: r.randint(1, 5))
    add("reviews", "created_at", "TIMESTAMP", none,
        lambda: dt.datetime(2024, 1, 1) + dt.timedelta(seconds=r.randint(0, 40_000_000)))
    # inventory: names that say "some identifier" (code, ref, serial, order, tracking), which rule cards
    # or IBANs out by name. Misnamed columns of real card numbers and IBANs, whose checksums must win,
    # beside real codes of the same shapes, which pass the checksums only at the chance rate (issue 18).
    # Added last, so that every column above keeps its values.
    add("inventory", "code", "VARCHAR", {"iban"}, lambda: iban(r, spaced=False), "IBANs, name says code")
    add("inventory", "item_ref", "VARCHAR", {"iban"}, lambda: iban(r, spaced=True),
        "spaced IBANs, name says item")
    add("inventory", "serial", "VARCHAR", {"card"}, lambda: card(r, plain=True),
        "card numbers, name says serial")
    add("inventory", "order_ref", "VARCHAR", {"card"}, lambda: card(r), "grouped card numbers, name says order")
    add("inventory", "product_code", "VARCHAR", none, lambda: iban_ish(r),
        "IBAN-shaped codes (1 in 97 pass mod-97)", near_miss=True)
    add("inventory", "serial_no", "VARCHAR", none, lambda: numeric_code(r, str(r.randint(51, 55))),
        "16-digit serials starting 51-55 (1 in 10 pass Luhn)", near_miss=True)
    add("inventory", "tracking_number", "VARCHAR", none, lambda: numeric_code(r, "4", grouped=True),
        "grouped 16-digit numbers starting 4 (1 in 10 pass Luhn)", near_miss=True)
    add_text("inventory", "order_notes", {"card"}, {"card": (0.08, lambda: card(r))}, 0.3,
             "8% card numbers, decoys, name says order")
    comments = [f"Order {numeric_code(r, r.choice('2345'))} {r.choice(SENTENCES).lower()}" if r.random() < 0.9
                else r.choice(SENTENCES) for _ in range(rows)]
    out.columns.append(LabelledColumn("inventory", "order_comments", "VARCHAR", comments, frozenset(),
                                      [frozenset()] * rows, "text quoting 16-digit order numbers", True))
    return out


def write_duckdb(data: LabelledSet, path: str | Any) -> None:
    """The data set as a DuckDB database, one table per ``table`` (what ``policyengine scan`` reads)."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for table, columns in data.tables().items():
            definition = ", ".join(f'"{c.name}" {c.sql_type}' for c in columns)
            con.execute(f'CREATE OR REPLACE TABLE "{table}" ({definition})')
            rows = list(zip(*(c.values for c in columns)))
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', rows)
    finally:
        con.close()
