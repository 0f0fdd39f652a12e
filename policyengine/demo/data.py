"""The demo database behind the example policy set in ``policies/``.

Masking only convinces on data that looks real, so users carry the names, e-mail addresses,
phones, addresses, national ids and IBANs of their own country, and a few review texts leak
contact details the way real ones do. Every value comes from generators seeded by the caller and
nothing reads the clock, so the same arguments always give the same rows: tests and docs can
quote them.
"""

from __future__ import annotations

import csv
import os
import random
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
from faker import Faker
from faker.decode import unidecode

Row = tuple[object, ...]


@dataclass(frozen=True)
class _Country:
    code: str  # ISO 3166 alpha-2, as the contracts' Country and Location columns hold it
    locale: str
    region: str
    weight: int  # relative share of users
    uses_iban: bool
    national_id: Callable[[Faker, date], str]
    place: Callable[[Faker], tuple[str, str]] = lambda fake: (fake.city(), fake.postcode())
    surnames: int = 1


def _italian_place(fake: Faker) -> tuple[str, str]:
    """City and postcode for Italy, which also makes them agree with each other.

    Faker's it_IT ``city()`` draws from a list built out of a set, whose order changes with the
    interpreter's hash seed; ``postcode_city_province()`` reads an ordered table instead.
    """
    postcode, rest = fake.postcode_city_province().split(", ", 1)
    return rest.rsplit(" (", 1)[0], postcode


# Faker's generators that stamp a birth date into the id (de_DE ``rvnr``, es_MX ``curp``/``rfc``)
# default to one relative to today; ``rvnr`` is handed the user's birth date and Mexico uses the
# IMSS number instead, so that no output depends on the day the database is built.
_COUNTRIES: tuple[_Country, ...] = (
    _Country("US", "en_US", "NA", 24, False, lambda fake, born: fake.ssn()),
    _Country("GB", "en_GB", "EU", 10, True, lambda fake, born: fake.ssn()),  # National Insurance no.
    _Country("DE", "de_DE", "EU", 10, True, lambda fake, born: fake.rvnr(born)),  # pension insurance no.
    _Country("FR", "fr_FR", "EU", 8, True, lambda fake, born: fake.ssn()),  # NIR
    _Country("ES", "es_ES", "EU", 6, True, lambda fake, born: fake.nif(), surnames=2),  # DNI
    _Country("IT", "it_IT", "EU", 6, True, lambda fake, born: fake.ssn(),  # codice fiscale
             place=_italian_place),
    _Country("NL", "nl_NL", "EU", 4, True, lambda fake, born: fake.ssn()),  # BSN
    _Country("CA", "en_CA", "NA", 6, False, lambda fake, born: fake.ssn()),  # SIN
    _Country("MX", "es_MX", "LATAM", 5, False, lambda fake, born: fake.ssn(), surnames=2),  # IMSS NSS
    _Country("BR", "pt_BR", "LATAM", 6, False, lambda fake, born: fake.cpf()),
    _Country("JP", "ja_JP", "APAC", 5, False,
             lambda fake, born: fake.numerify("#### #### ####")),  # My Number
    _Country("IN", "en_IN", "APAC", 6, False, lambda fake, born: fake.aadhaar_id()),
    _Country("AU", "en_AU", "APAC", 4, False, lambda fake, born: fake.numerify("### ### ###")),  # TFN
)

# Types are the canonical ones the policy loader gives each contract column, so the engine finds
# the warehouse matching its contracts; NOT NULL mirrors mode REQUIRED so a generator slip fails
# the build instead of shipping a NULL the contract promises away.
_TABLES: dict[str, str] = {
    "user_demographics": """
        "UserID" VARCHAR PRIMARY KEY, "FullName" VARCHAR NOT NULL, "Email" VARCHAR NOT NULL,
        "Phone" VARCHAR, "BirthDate" DATE, "Gender" VARCHAR, "City" VARCHAR,
        "Country" VARCHAR NOT NULL, "PostalCode" VARCHAR, "NationalID" VARCHAR, "Iban" VARCHAR,
        "MarketingConsent" BOOLEAN NOT NULL""",
    "reviews": """
        "ReviewID" VARCHAR PRIMARY KEY, "UserID" VARCHAR NOT NULL, "ProductID" VARCHAR NOT NULL,
        "Rating" INTEGER NOT NULL, "ReviewText" VARCHAR, "CreatedAt" TIMESTAMP NOT NULL""",
    "verified_reviews": """
        "ReviewID" VARCHAR PRIMARY KEY, "UserID" VARCHAR NOT NULL,
        "ReviewSentiment" DECIMAL(38,9) NOT NULL, "BirthYear" INTEGER NOT NULL,
        "Gender" INTEGER NOT NULL, "Location" VARCHAR NOT NULL""",
    "region_countries": """
        "Region" VARCHAR NOT NULL, "Country" VARCHAR NOT NULL""",
}

#: Derived tables, built from the base tables by the example policy set's own SQL
#: (``policies/derived/<table>.sql``, linked here as ``derived/``), in this order, so that the demo
#: database has every table the example set has a contract for, and the contract ``policyengine
#: derive`` wrote from that SQL describes exactly what the database holds.
DERIVED: tuple[str, ...] = ("review_summary",)
_DERIVED_SQL = Path(__file__).resolve().parent / "derived"


def derived_sql(table: str) -> str:
    """The SQL (``CREATE TABLE ... AS SELECT``) that builds a derived table of the demo."""
    return (_DERIVED_SQL / f"{table}.sql").read_text(encoding="utf-8")


_GENDERS: tuple[str | None, ...] = ("female", "male", "nonbinary", None)
_GENDER_WEIGHTS = (48, 46, 3, 3)
# verified_reviews stores gender as the ML pipeline's integer code, 0 standing for unknown
_GENDER_CODES: dict[str | None, int] = {None: 0, "female": 1, "male": 2, "nonbinary": 3}

_BORN_FIRST = date(1940, 1, 1).toordinal()
_BORN_LAST = date(2007, 12, 31).toordinal()
_BORN_MOST = date(1986, 6, 1).toordinal()
_REVIEWS_FROM = datetime(2021, 1, 1)
_REVIEW_SECONDS = int((datetime(2025, 1, 1) - _REVIEWS_FROM).total_seconds())

_PRODUCTS = 300
_PRODUCT_KINDS = (
    "headset", "coffee grinder", "backpack", "desk lamp", "rice cooker", "blender", "water bottle",
    "phone case", "yoga mat", "keyboard", "kettle", "tent", "air fryer", "office chair", "smartwatch",
    "rain jacket", "toaster", "bluetooth speaker", "frying pan", "electric toothbrush",
)
_RATINGS = (1, 2, 3, 4, 5)
_RATING_WEIGHTS = (6, 7, 12, 30, 45)  # star ratings pile up at the top, as on every shop
_OPENERS: dict[int, tuple[str, ...]] = {
    1: ("Very disappointed.", "Would not buy again.", "Complete waste of money.", "Awful."),
    2: ("Not great.", "Below my expectations.", "It works, barely.", "Quality could be much better."),
    3: ("It's okay.", "Does the job.", "Average, nothing special.", "Decent for the price."),
    4: ("Pretty good overall.", "Happy with this purchase.", "Works well.", "Good value."),
    5: ("Absolutely love it!", "Excellent quality.", "Best purchase this year.", "Highly recommend."),
}
_VERDICTS: dict[int, tuple[str, ...]] = {
    1: ("stopped working after a week.", "arrived broken.", "is nothing like the pictures."),
    2: ("feels cheap.", "needed a replacement part within a month.", "is smaller than described."),
    3: ("is fine but not more.", "does what it says.", "could be sturdier."),
    4: ("has held up well so far.", "was easy to set up.", "is better than my old one."),
    5: ("is perfect.", "exceeded my expectations.", "gets used every single day."),
}

# DuckDB's COPY reads an empty field as NULL whether quoted or not, so only an explicit marker
# keeps NULL apart from text.
_NULL = r"\N"


@dataclass(frozen=True)
class _User:
    """A user_demographics row; the fields keep the table's column order, as rows are astuple(user)."""

    user_id: str
    full_name: str
    email: str
    phone: str | None
    birth_date: date
    gender: str | None
    city: str | None
    country: str
    postal_code: str | None
    national_id: str
    iban: str | None
    marketing_consent: bool


def build_demo_database(
    path: str | Path, *, users: int = 2000, reviews: int = 10000, seed: int = 7
) -> dict[str, int]:
    """Create (or replace) the DuckDB file at path with the four base tables and the derived ones
    (:data:`DERIVED`); returns rows per table.

    The database is built in a scratch folder beside ``path`` and renamed over it only once
    complete, so a failed build leaves the previous file (or none) rather than half a database.
    """
    if users < 1 or reviews < 0:
        raise ValueError("need at least one user and a non-negative number of reviews")
    rng = random.Random(seed)
    people = _users(users, seed, rng)
    review_rows, verified_rows = _reviews(reviews, people, seed, rng)
    rows: dict[str, list[Row]] = {
        "user_demographics": [astuple(person) for person in people],
        "reviews": review_rows,
        "verified_reviews": verified_rows,
        "region_countries": [(country.region, country.code) for country in _COUNTRIES],
    }
    counts = {table: len(table_rows) for table, table_rows in rows.items()}
    target = Path(path)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as scratch:
        staged = Path(scratch) / target.name
        with duckdb.connect(str(staged)) as con:
            for table, columns in _TABLES.items():
                con.execute(f"CREATE TABLE {table} ({columns})")
                _copy_in(con, table, rows[table], Path(scratch))
            for table in DERIVED:
                con.execute(derived_sql(table))
                counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        # DuckDB refuses to open a file whose write-ahead log is not its own, and an unclean
        # close of the old file may have left one.
        Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(staged, target)
    return counts


def _faker(locale: str, seed: int) -> Faker:
    """One generator per locale, each on its own stream.

    A shared seed would make en_US, en_CA and en_AU (same name lists) hand their n-th users the
    same name.
    """
    fake = Faker(locale)
    fake.seed_instance(f"{seed}/{locale}")
    return fake


def _users(count: int, seed: int, rng: random.Random) -> list[_User]:
    fakers = {country.code: _faker(country.locale, seed) for country in _COUNTRIES}
    homes = rng.choices(_COUNTRIES, weights=[country.weight for country in _COUNTRIES], k=count)
    taken: set[str] = set()
    people: list[_User] = []
    for number, country in enumerate(homes, start=1):
        fake = fakers[country.code]
        gender = rng.choices(_GENDERS, weights=_GENDER_WEIGHTS)[0]
        full_name, given, family = _name(fake, country, gender)
        born = date.fromordinal(round(rng.triangular(_BORN_FIRST, _BORN_LAST, _BORN_MOST)))
        city, postcode = country.place(fake)
        people.append(_User(
            user_id=f"U{number:06d}",
            full_name=full_name,
            email=_email(given, family, fake.free_email_domain(), rng, taken),
            phone=_or_null(rng, 0.05, fake.phone_number()),
            birth_date=born,
            gender=gender,
            city=_or_null(rng, 0.03, city),
            country=country.code,
            postal_code=_or_null(rng, 0.03, postcode),
            national_id=country.national_id(fake, born),
            iban=fake.iban() if country.uses_iban else None,
            marketing_consent=rng.random() < 0.6,
        ))
    return people


def _name(fake: Faker, country: _Country, gender: str | None) -> tuple[str, str, str]:
    """The full name as the country writes it, plus the given and family names for an address."""
    if country.code == "JP":
        # Faker's Japanese names are kanji; the romanized reading is what goes into an address.
        if gender == "female":
            given = fake.first_name_female_pair()
        elif gender == "male":
            given = fake.first_name_male_pair()
        else:
            given = fake.first_name_pair()
        family = fake.last_name_pair()
        return f"{family[0]} {given[0]}", given[2], family[2]
    if gender == "female":
        first = fake.first_name_female()
    elif gender == "male":
        first = fake.first_name_male()
    else:
        first = fake.first_name()
    lasts = [fake.last_name() for _ in range(country.surnames)]
    return f"{first} {' '.join(lasts)}", first, lasts[0]


def _email(given: str, family: str, domain: str, rng: random.Random, taken: set[str]) -> str:
    """An address built from the person's own name, numbered on collision as providers do."""
    first, last = _mailbox_part(given), _mailbox_part(family)
    local = rng.choice((f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}",
                        f"{last}.{first}", f"{first}.{last}{rng.randint(1, 99)}"))
    email = f"{local}@{domain}"
    while email in taken:
        email = f"{local}{rng.randint(1, 9999)}@{domain}"
    taken.add(email)
    return email


def _mailbox_part(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unidecode(name).lower())


def _or_null(rng: random.Random, share: float, value: str) -> str | None:
    """NULL for about ``share`` of the rows, so every nullable column exercises NULL handling."""
    return None if rng.random() < share else value


def _reviews(
    count: int, people: Sequence[_User], seed: int, rng: random.Random
) -> tuple[list[Row], list[Row]]:
    """The reviews and the sentiment pipeline's verified_reviews built from them, row for row."""
    fake = _faker("en_US", seed)
    catalog = [(f"P{n:04d}", f"{fake.last_name()} {rng.choice(_PRODUCT_KINDS)}")
               for n in range(1, _PRODUCTS + 1)]
    # Long-tailed weights: a few prolific reviewers and best-selling products, as in real shops.
    authors = rng.choices(people, weights=[rng.lognormvariate(0, 1.1) for _ in people], k=count)
    products = rng.choices(catalog, weights=[rng.lognormvariate(0, 1.0) for _ in catalog], k=count)
    drafts: list[tuple[datetime, _User, str, int, str | None]] = []
    for author, (product_id, product_name) in zip(authors, products):
        rating = rng.choices(_RATINGS, weights=_RATING_WEIGHTS)[0]
        created = _REVIEWS_FROM + timedelta(seconds=rng.randrange(_REVIEW_SECONDS))
        text = _review_text(fake, rng, rating, product_name, author)
        drafts.append((created, author, product_id, rating, text))
    # Review ids follow time, as a sequence in the transactional store would; the sort is stable,
    # so reviews written in the same second keep their (seeded) order.
    drafts.sort(key=lambda draft: draft[0])
    reviews: list[Row] = []
    verified: list[Row] = []
    for number, (created, author, product_id, rating, text) in enumerate(drafts, start=1):
        review_id = f"R{number:07d}"
        reviews.append((review_id, author.user_id, product_id, rating, text, created))
        score = max(-1.0, min(1.0, 0.4 * (rating - 3) + rng.gauss(0.0, 0.12)))
        # three decimals as text, so the DECIMAL column holds exactly those and no float residue
        verified.append((review_id, author.user_id, f"{score:.3f}", author.birth_date.year,
                         _GENDER_CODES[author.gender], author.country))
    return reviews, verified


def _review_text(fake: Faker, rng: random.Random, rating: int, product: str, author: _User) -> str | None:
    """Stars-only reviews have no text; a few others quote the author's contact details."""
    if rng.random() < 0.02:
        return None
    parts = [rng.choice(_OPENERS[rating])]
    if rng.random() < 0.35:
        parts.append(f"The {product} {rng.choice(_VERDICTS[rating])}")
    parts.extend(fake.sentence(nb_words=rng.randint(6, 14)) for _ in range(rng.randint(1, 2)))
    if rng.random() < 0.03:
        if author.phone is not None and rng.random() < 0.5:
            parts.append(f"Questions? Call me on {author.phone}.")
        else:
            parts.append(f"Happy to answer questions at {author.email}.")
    return " ".join(parts)


def _copy_in(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Row], scratch: Path) -> None:
    """Bulk-load through a CSV file: one COPY is far faster than row-at-a-time inserts."""
    file = scratch / f"{table}.csv"
    with file.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(tuple(_NULL if value is None else value for value in row) for row in rows)
    literal = str(file).replace("'", "''")
    con.execute(f"COPY {table} FROM '{literal}' "
                f"(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULLSTR '{_NULL}')")
