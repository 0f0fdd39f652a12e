"""Column-level classification: what a column holds, from a sample of its values and its name.

Why a column and not a value: one value cannot tell a card number from an ID that passes Luhn by
chance, or a birth date from a release date; a column can. The rules:

- **Value kinds** (e-mail, phone, card, IBAN, SSN, NINO, IP). When most values *are* a candidate
  (a structured column), the column holds the kind only if at least 80% of its candidates validate:
  random 16-digit IDs pass Luhn one time in ten, random ``NNN-NNN-NNNN`` order numbers are valid
  North American numbers about two times in three, real columns validate nearly always. In free text
  the validated spans count (at least 2 values and 1% of the sample). A column whose IPv4 "addresses"
  are nearly all version-like (``1.2.3.4``) holds versions. A name that rules a kind out (``version``,
  ``order_number``, ``part_number``) wins over content that cannot tell: format rules that a look-alike
  satisfies as a matter of course (versions are valid IPv4 addresses, order numbers valid phone numbers).
- **Content that validates beyond chance outweighs a weak name hint.** Card numbers (Luhn) and IBANs
  (mod-97) are checked by a checksum that a look-alike passes only by chance (one in ten, one in 97).
  A name such as ``sku``, ``product_code``, ``serial`` or ``order_ref`` only says "some identifier", so
  for these two kinds it does not stop the content from being checked; instead it raises the bar: the
  column must hold the kind as it would under a neutral name (in a structured column 80% of the
  candidates validate, never the 50% allowed when the name agrees; in free text 2 values and 1%), and
  codes that pass the checksum only by chance must validate that often less than once in a million
  columns (:data:`CHANCE`, a binomial tail): at least 7 card numbers or 4 IBANs when all validate. So a
  column of IBANs misnamed ``supplier_code`` is found, and a column of real serial numbers, one in ten
  of which passes Luhn, is not, nor free text quoting order numbers that pass now and then (which a
  neutral name would let through). Where the checksum is passed systematically by something else, the
  column is reported and the reviewer dismisses it: the safer error. A name that names such a format
  (``imei``, which passes Luhn by design; ``ean``, ``isbn``) is a strong hint, and still wins. The
  egress check, which judges one value at a time, still lets every negative name decide.
- **Dates of birth**: dates between 0 and 120 years before the sample's day in a column whose name says
  birth; with a neutral name, only a spread like a population's (ages 13 to 110, at least 20 years
  apart, median 25 to 75). A name such as ``release_date`` rules it out.
- **Person names**: a name that says so and values shaped like names; with a neutral name, most values
  are two or more capitalised words whose first word is a known first name and last word a known name
  (the first- and last-name lists of Faker's locales, a maintained source the project already ships).
- **Locations**: a name that says so (``city``, ``address``, ``postcode``); by content, street addresses
  and UK postcodes. A column of bare city names with a neutral name is not found: that needs a named
  entity model (see docs/dlp.md for why none is used).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from policyengine.dlp.detectors import BY_KIND, DETECTORS, IP, TIERS, Tier, scan_value, version_like
from policyengine.dlp.names import NameEvidence, name_evidence

#: candidates that must validate for a structured column to hold a kind
VALID_SHARE = 0.8
#: share of values that must be candidates for a column to be judged as structured
STRUCTURED_SHARE = 0.5
#: free text: validated values needed, as a share of the sample and as a count
TEXT_SHARE = 0.01
TEXT_MIN = 2
#: content that validates outweighs a weak name hint only when codes that pass the checksum by chance
#: would validate that often less than once in this many columns
CHANCE = 1e-6


@dataclass(frozen=True)
class Evidence:
    """One kind found in a column, with how it was found."""

    kind: str
    #: share of the sampled non-null values that hold it (0 when only the name says so)
    share: float
    #: ``content``, ``name`` or ``content+name``
    by: str
    detail: str

    @property
    def tier(self) -> Tier:
        return TIERS[self.kind]

    def describe(self) -> str:
        return f"{self.kind} ({self.detail})"


@dataclass(frozen=True)
class ColumnVerdict:
    name: str
    sampled: int
    found: tuple[Evidence, ...] = field(default_factory=tuple)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(e.kind for e in self.found)

    @property
    def sensitive(self) -> bool:
        return bool(self.found)

    @property
    def tier(self) -> Tier | None:
        return max((e.tier for e in self.found), default=None)


@dataclass
class _Tally:
    values_hit: int = 0
    candidates: int = 0
    valid: int = 0
    whole_candidates: int = 0
    whole_valid: int = 0
    ipv4_hits: int = 0
    version_hits: int = 0


def classify_column(name: str, values: Sequence[Any], *, as_of: dt.date | None = None) -> ColumnVerdict:
    """Classify one column from its name and a sample of its non-null values (any Python types)."""
    evidence = name_evidence(name)
    present = [v for v in values if v is not None]
    found: dict[str, Evidence] = {}
    texts = [_text(v) for v in present]
    texts = [t for t in texts if t is not None]
    if texts:
        for item in _value_kinds(texts, len(present), evidence):
            found[item.kind] = item
    dates = _dates(present)
    if dates:
        dob = _birth_dates(dates, len(present), evidence, as_of or dt.date.today())
        if dob is not None:
            found[dob.kind] = dob
    strings = [v.strip() for v in present if isinstance(v, str) and v.strip()]
    if strings:
        for item in (_person(strings, evidence), _location(strings, evidence)):
            if item is not None:
                found.setdefault(item.kind, item)
    for kind in sorted(evidence.positive - set(found)):
        if evidence.rules_out(kind):
            continue
        if kind == "national_id" and found.keys() & {"us_ssn", "uk_nino"}:
            continue
        found[kind] = Evidence(kind, 0.0, "name", f"the name '{name}' suggests it")
    return ColumnVerdict(name, len(present), tuple(sorted(found.values(), key=lambda e: (-e.tier, e.kind))))


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a card or phone number stored as a number
    return None


def content_outweighs_name(kind: str, evidence: NameEvidence) -> bool:
    """The name rules the kind out, but only weakly (``sku``, ``serial``: "an identifier"), and the kind's
    validator is a checksum (cards, IBANs), so the content is checked and may win (see the module doc)."""
    detector = BY_KIND.get(kind)
    return detector is not None and detector.chance is not None and evidence.weakly_rules_out(kind)


def chance_of_at_least(valid: int, candidates: int, chance: float) -> float:
    """P(at least ``valid`` of ``candidates`` look-alikes validate), each by chance ``chance``: the
    binomial upper tail, summed in log space so that a sample of thousands neither overflows nor
    underflows to a wrong answer."""
    if valid <= 0:
        return 1.0
    if valid > candidates:
        return 0.0
    log_p, log_q = math.log(chance), math.log1p(-chance)
    log_n = math.lgamma(candidates + 1)
    terms = [log_n - math.lgamma(i + 1) - math.lgamma(candidates - i + 1)
             + i * log_p + (candidates - i) * log_q for i in range(valid, candidates + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _value_kinds(texts: list[str], total: int, evidence: NameEvidence) -> Iterable[Evidence]:
    tallies = {d.kind: _Tally() for d in DETECTORS}
    # a weak name hint does not stop a checksum kind from being looked for: it raises the bar instead
    lifted = frozenset(kind for kind in evidence.negative if content_outweighs_name(kind, evidence))
    scanning = dataclasses.replace(evidence, negative=evidence.negative - lifted) if lifted else evidence
    for text in texts:
        stripped = text.strip()
        for kind, scanned in scan_value(text, scanning).items():
            tally = tallies[kind]
            tally.candidates += scanned.candidates
            tally.valid += len(scanned.spans)
            if scanned.spans:
                tally.values_hit += 1
            if scanned.candidates == 1 and _whole(text, stripped, scanned.spans, kind):
                tally.whole_candidates += 1
                tally.whole_valid += len(scanned.spans)
            elif scanned.candidates == 1 and not scanned.spans and _whole_candidate(stripped, kind):
                tally.whole_candidates += 1
            if kind == IP.kind:
                for start, end in scanned.spans:
                    if ":" not in text[start:end]:
                        tally.ipv4_hits += 1
                        tally.version_hits += version_like(text[start:end])
    for kind, tally in tallies.items():
        if not tally.candidates:
            continue
        named = evidence.suggests(kind)
        share = tally.values_hit / total
        if tally.whole_candidates >= STRUCTURED_SHARE * total:
            validity = tally.whole_valid / tally.whole_candidates
            holds = validity >= VALID_SHARE or (named and validity >= 0.5)
            detail = f"{share:.0%} of {total} values; {validity:.0%} of candidates validate"
            valid, candidates = tally.whole_valid, tally.whole_candidates
        else:
            holds = tally.values_hit >= max(TEXT_MIN, TEXT_SHARE * total)
            detail = f"in {share:.0%} of {total} values"
            valid, candidates = tally.valid, tally.candidates
        if holds and kind in lifted:
            # the name says "an identifier" (and rules out the 50% allowed to a name that agrees): only
            # validation that chance cannot explain outweighs it
            chance = BY_KIND[kind].chance or 1.0
            holds = chance_of_at_least(valid, candidates, chance) <= CHANCE
            detail += (f"; {valid} pass the checksum where chance gives {chance * candidates:.0f}: "
                       "outweighs the name")
        if holds and kind == IP.kind and tally.ipv4_hits and tally.version_hits >= 0.8 * tally.ipv4_hits:
            holds = False  # '1.2.3.4' everywhere: software versions, not addresses
        if holds:
            yield Evidence(kind, share, "content+name" if named else "content", detail)


def _whole(text: str, stripped: str, spans: tuple[tuple[int, int], ...], kind: str) -> bool:
    if not spans:
        return False
    start, end = spans[0]
    return text[start:end].strip() == stripped


@cache
def _whole_pattern(kind: str) -> re.Pattern[str]:
    detector = next(d for d in DETECTORS if d.kind == kind)
    return re.compile(r"\s*" + detector.pattern.pattern + r"\s*")


def _whole_candidate(stripped: str, kind: str) -> bool:
    """A value that is one candidate and nothing else (it failed validation): counts against validity."""
    return _whole_pattern(kind).fullmatch(stripped) is not None


# --- dates of birth --------------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y")


def _dates(values: list[Any]) -> list[dt.date]:
    out: list[dt.date] = []
    strings = 0
    for value in values:
        if isinstance(value, dt.datetime):
            out.append(value.date())
        elif isinstance(value, dt.date):
            out.append(value)
        elif isinstance(value, str):
            strings += 1
            parsed = _parse_date(value.strip())
            if parsed is not None:
                out.append(parsed)
    if strings and len(out) < 0.8 * len(values):
        return []  # a text column with a few dates in it is not a date column
    return out


def _parse_date(text: str) -> dt.date | None:
    if not 8 <= len(text) <= 10:
        return None
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _birth_dates(dates: list[dt.date], total: int, evidence: NameEvidence, as_of: dt.date) -> Evidence | None:
    if evidence.rules_out("date_of_birth"):
        return None
    ages = [(as_of - d).days / 365.25 for d in dates]
    named = evidence.suggests("date_of_birth")
    if named:
        plausible = sum(0 <= a <= 120 for a in ages) / len(ages)
        if plausible >= 0.9:
            return Evidence("date_of_birth", len(dates) / total, "content+name",
                            f"{plausible:.0%} of {len(ages)} dates 0-120 years ago")
        return None
    adult = sum(13 <= a <= 110 for a in ages) / len(ages)
    if adult < 0.95 or len(ages) < 20:
        return None
    quantiles = statistics.quantiles(ages, n=10)
    spread, median = quantiles[-1] - quantiles[0], statistics.median(ages)
    if spread >= 20 and 25 <= median <= 75:
        return Evidence("date_of_birth", len(dates) / total, "content",
                        f"ages 13-110 for {adult:.0%} of {len(ages)} dates, median {median:.0f}, "
                        f"spread {spread:.0f} years")
    return None


# --- person names ----------------------------------------------------------------------------------------

_PARTICLES = frozenset({"de", "van", "der", "den", "von", "da", "di", "le", "la", "du", "del", "bin", "al", "ten"})
_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*\.?$")
#: locales whose first and last names make the gazetteer (Latin script, or romanised)
GAZETTEER_LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL",
                     "pl_PL", "sv_SE", "no_NO", "da_DK", "fi_FI", "pt_BR", "pt_PT", "tr_TR", "cs_CZ", "hu_HU",
                     "ja_JP", "zh_CN", "ko_KR", "hi_IN", "ar_AA", "en_NZ", "en_AU", "zu_ZA", "tw_GH")


@lru_cache(maxsize=1)
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names from Faker's locales (lower case). Loaded on first use: only the scan needs it."""
    import importlib

    first: set[str] = set()
    last: set[str] = set()
    for locale in GAZETTEER_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        for attr, into in (("first_names", first), ("first_names_male", first), ("first_names_female", first),
                           ("first_romanized_names", first), ("last_names", last), ("last_romanized_names", last)):
            names = getattr(provider, attr, None) or ()
            into.update(n.lower() for n in names if isinstance(n, str))
    return frozenset(first), frozenset(last)


def _name_tokens(value: str) -> list[str] | None:
    tokens = value.split()
    if not 1 <= len(tokens) <= 4:
        return None
    for token in tokens:
        if token.lower() in _PARTICLES:
            continue
        if not _WORD.match(token) or not token[0].isupper():
            return None
    return tokens


def _person(values: list[str], evidence: NameEvidence) -> Evidence | None:
    if evidence.rules_out("person_name"):
        return None
    shaped = [t for t in (_name_tokens(v) for v in values) if t is not None]
    shape_share = len(shaped) / len(values)
    if evidence.suggests("person_name"):
        if shape_share >= 0.8:
            return Evidence("person_name", shape_share, "content+name",
                            f"{shape_share:.0%} of {len(values)} values shaped like names")
        return None
    first, last = gazetteer()
    full = sum(1 for t in shaped
               if len(t) >= 2 and t[0].lower() in first and (t[-1].lower() in last or t[-1].lower() in first))
    full_share = full / len(values)
    if full_share >= 0.6:
        return Evidence("person_name", full_share, "content",
                        f"{full_share:.0%} of {len(values)} values are known first and last names")
    return None


# --- locations -------------------------------------------------------------------------------------------

_STREET = re.compile(
    r"^\d{1,5}[A-Za-z]?,?\s+(?:[^\W\d_][\w'.-]*\s+){1,4}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|"
    r"court|ct|place|pl|boulevard|blvd|terrace|crescent|square|sq|parkway|pkwy|highway|hwy)\.?$"
    r"|^[^\W\d_][\w'-]*(?:straße|strasse|weg|allee|platz|gasse|ring)\s+\d{1,4}[a-z]?$",
    re.IGNORECASE)
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}$")


def _location(values: list[str], evidence: NameEvidence) -> Evidence | None:
    if evidence.rules_out("location"):
        return None
    street = sum(1 for v in values if _STREET.match(v)) / len(values)
    postcode = sum(1 for v in values if _UK_POSTCODE.match(v.upper())) / len(values)
    named = evidence.suggests("location")
    if street >= 0.5:
        return Evidence("location", street, "content+name" if named else "content", f"{street:.0%} street addresses")
    if postcode >= 0.8:
        return Evidence("location", postcode, "content+name" if named else "content", f"{postcode:.0%} UK postcodes")
    if named:
        return Evidence("location", 0.0, "name", "the name suggests a place; the values are not checked")
    return None
