"""Value-level detectors of personal data: a regular expression finds candidates, a validator keeps the real ones.

Why validators: a pattern alone cannot tell a card number from a 16-digit account ID, an IBAN from a
product code, or an SSN from a part number. The checksums and issuing rules can: Luhn and the issuer
prefixes for cards, ISO 13616 mod-97 and the registry's per-country length for IBANs, the ranges the
SSA never issues for SSNs, HMRC's excluded prefixes for National Insurance numbers, :mod:`ipaddress`
for IP addresses. Each detector also counts *candidates* (pattern matches before validation): a column
where only one candidate in ten validates is a column of IDs that pass a checksum by chance, not a
column of card numbers (see :mod:`policyengine.dlp.classify`).

Every pattern is linear: bounded repetitions, no nested unbounded quantifiers, so a hostile value
cannot make a scan (or the egress check) take more than time proportional to its length.

National identifiers covered: US Social Security numbers (``AAA-GG-SSSS`` with dashes or spaces; a
bare nine-digit run only where the column's name says SSN) and UK National Insurance numbers
(``AB 12 34 56 C``). Others are found by column name only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from policyengine.dlp.names import NEUTRAL, NameEvidence

MASK = "*****"


class Tier(IntEnum):
    """How sensitive a kind of data is, independent of a policy set's level names.

    ``TOP`` maps to a set's highest level, ``ELEVATED`` to the one below it (see
    :func:`policyengine.dlp.scan.level_for`): the example set labels e-mail, phone, name, national ID
    and IBAN ``restricted`` and birth date, city and postal code ``confidential``.
    """

    ELEVATED = 1
    TOP = 2


@dataclass(frozen=True)
class Hit:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Facts:
    """What one value has, counted once at C speed, so a detector that cannot match is skipped without
    running its pattern (most values of most columns skip every detector)."""

    length: int
    digits: int
    at: bool
    dots: int
    colons: int


_DIGIT_CHARS = "0123456789"


def facts(text: str) -> Facts:
    return Facts(len(text), sum(map(text.count, _DIGIT_CHARS)), "@" in text, text.count("."), text.count(":"))


@dataclass(frozen=True)
class Scanned:
    """One detector over one value: how many candidates the pattern found, and the validated spans."""

    candidates: int
    spans: tuple[tuple[int, int], ...]


class Detector:
    """A kind of personal data found by pattern and validator. Subclasses set the class attributes."""

    kind: str = ""
    title: str = ""
    tier: Tier = Tier.TOP
    pattern: re.Pattern[str]
    #: the chance that a candidate which is *not* this kind validates anyway, when the validator is a
    #: checksum (Luhn, mod-97); None when it is a set of format rules that a look-alike can satisfy
    #: systematically (a part-number scheme can follow the SSN ranges, a version is a valid IPv4
    #: address, an order number a valid phone number). Only a kind with a checksum can outweigh a weak
    #: name hint, by validating more often than this chance allows (see :mod:`policyengine.dlp.classify`).
    chance: float | None = None

    def quick(self, known: Facts) -> bool:
        """A cheap test that rules a value out before any regular expression runs."""
        return True

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        """The span of a validated candidate, or None."""
        return match.span(1)

    def matches(self, text: str) -> Iterable[re.Match[str]]:
        return self.pattern.finditer(text)

    def scan(self, text: str, known: Facts | None = None) -> Scanned:
        if not self.quick(known or facts(text)):
            return Scanned(0, ())
        return self.run(text)

    def run(self, text: str) -> Scanned:
        """The pattern and the validator, without the quick test."""
        candidates = 0
        spans: list[tuple[int, int]] = []
        for match in self.matches(text):
            candidates += 1
            span = self.valid(match, text)
            if span is not None:
                spans.append(span)
        return Scanned(candidates, tuple(spans))


# --- e-mail ------------------------------------------------------------------------------------------

#: ``logo@2x.png`` is a retina image, not an address; ``lodash@4.17.21`` never matches (numeric TLD)
FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff pdf js mjs ts css scss html htm json xml yaml yml txt md csv "
    "zip gz tgz bz2 xz tar rar exe dll so dylib py rb go rs java class jar war php sh bat ps lock log tmp "
    "bak mp3 mp4 mov avi wav ogg webm woff woff2 ttf otf eot map wasm".split()
)


class EmailDetector(Detector):
    kind = "email"
    title = "e-mail address"
    pattern = re.compile(
        r"(?<![\w.%+-])([A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
        r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24})(?![A-Za-z0-9-])"
    )

    def quick(self, known: Facts) -> bool:
        return known.at

    def matches(self, text: str) -> Iterable[re.Match[str]]:
        """The pattern run only around each '@' (an address is at most 64 characters before it and a
        few hundred after), so a long text with one address costs little more than a short one."""
        end = -1
        at = text.find("@")
        while at != -1:
            start = max(at - 65, end, 0)
            end = min(at + 600, len(text))
            yield from self.pattern.finditer(text, start, end)
            at = text.find("@", end)

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        address = match.group(1)
        local, _, domain = address.rpartition("@")
        if ".." in local or domain.rsplit(".", 1)[-1].lower() in FILE_EXTENSIONS:
            return None
        return match.span(1)


# --- payment cards -------------------------------------------------------------------------------------

def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes; a random number passes one time in ten."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The scheme whose issuer prefix (IIN) and length the number has, or None: no scheme issues it."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if n == 16 and (51 <= p2 <= 55 or 2221 <= p4 <= 2720):
        return "mastercard"
    if n == 15 and p2 in (34, 37):
        return "amex"
    if 16 <= n <= 19 and (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65):
        return "discover"
    if 16 <= n <= 19 and 3528 <= p4 <= 3589:
        return "jcb"
    if 14 <= n <= 19 and (300 <= p3 <= 305 or p2 in (36, 38, 39)):
        return "diners"
    if 16 <= n <= 19 and p2 == 62:
        return "unionpay"
    if 13 <= n <= 19 and p2 in (50, 56, 57, 58, 63, 67):
        return "maestro"
    return None


class CardDetector(Detector):
    kind = "card"
    title = "payment card number"
    #: Luhn alone: one random number in ten passes. The issuer prefix is not counted, since a code
    #: scheme may well share one with a card scheme (every code starting with 4, as Visa does).
    chance = 0.1
    pattern = re.compile(r"(?<![\w-])(?<!\d[.,])(\d(?:[ -]?\d){12,18})(?![\w-]|[.,]\d)")
    _GROUPS = re.compile(r"[ -]")

    def quick(self, known: Facts) -> bool:
        return known.digits >= 13

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        written = match.group(1)
        separators = set(self._GROUPS.findall(written))
        if len(separators) > 1:
            return None
        digits = written.replace(" ", "").replace("-", "")
        if separators:
            groups = [len(g) for g in self._GROUPS.split(written)]
            if not (all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4) and groups[:2] != [4, 6]:
                return None
        if card_brand(digits) is None or not luhn(digits):
            return None
        return match.span(1)


# --- IBAN ------------------------------------------------------------------------------------------------

#: the SWIFT IBAN registry's length per country
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_checksum(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, the number mod 97 is 1."""
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


class IbanDetector(Detector):
    kind = "iban"
    title = "IBAN"
    #: mod-97: about one random code in 97 passes (the country's registered length is not counted)
    chance = 1 / 97
    pattern = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30})")

    def quick(self, known: Facts) -> bool:
        return known.length >= 15 and known.digits >= 2

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        start = match.start(1)
        length = IBAN_LENGTHS.get(match.group(1)[:2])
        if length is None:
            return None
        compact: list[str] = []
        end = start
        for index in range(start, match.end(1)):  # the match may run into the next word: stop at the length
            char = text[index]
            if char != " ":
                compact.append(char)
            if len(compact) == length:
                end = index + 1
                break
        if len(compact) != length or (end < len(text) and text[end].isalnum()):
            return None
        return (start, end) if iban_checksum("".join(compact)) else None


# --- national identifiers ------------------------------------------------------------------------------

#: numbers the SSA voided after they were printed on sample cards and in advertisements
SSN_PUBLISHED = frozenset({"078051120", "219099999", "457555462"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Never issued: area 000, 666 or 900-999; group 00; serial 0000; and the published sample numbers."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in SSN_PUBLISHED


class SsnDetector(Detector):
    kind = "us_ssn"
    title = "US Social Security number"
    tier = Tier.TOP
    pattern = re.compile(r"(?<![\w-])(\d{3}([- ])\d{2}\2\d{4})(?![\w-]|[.,]\d)")
    #: a bare nine-digit run: only where the column's name says SSN (any nine-digit ID would match)
    bare = re.compile(r"(?<![\w-])(\d{9})(?![\w-])")

    def quick(self, known: Facts) -> bool:
        return known.digits >= 9

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        digits = match.group(1).replace("-", "").replace(" ", "")
        return match.span(1) if ssn_valid(digits[:3], digits[3:5], digits[5:]) else None

    def scan_bare(self, text: str) -> Scanned:
        candidates, spans = 0, []
        for match in self.bare.finditer(text):
            candidates += 1
            digits = match.group(1)
            if ssn_valid(digits[:3], digits[3:5], digits[5:]):
                spans.append(match.span(1))
        return Scanned(candidates, tuple(spans))


class NinoDetector(Detector):
    kind = "uk_nino"
    title = "UK National Insurance number"
    #: any letter as the suffix, so near-misses count as candidates; only A-D validate
    pattern = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Z])(?![A-Za-z0-9])")
    _EXCLUDED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

    def quick(self, known: Facts) -> bool:
        return known.digits >= 6

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        value = match.group(1).replace(" ", "")
        first, second, suffix = value[0], value[1], value[-1]
        if first in "DFIQUV" or second in "DFIOQUV" or value[:2] in self._EXCLUDED_PREFIXES or suffix not in "ABCD":
            return None
        return match.span(1)


# --- IP addresses --------------------------------------------------------------------------------------

class IpDetector(Detector):
    kind = "ip_address"
    title = "IP address"
    tier = Tier.ELEVATED
    pattern = re.compile(
        r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]))"
    )

    def quick(self, known: Facts) -> bool:
        return (known.dots >= 3 and known.digits >= 4) or known.colons >= 2

    #: ``firmware 2.1.0.4``, ``version: 1.2.3.4``: a version number, whatever it parses as
    _VERSION_BEFORE = re.compile(r"\b(?:version|firmware|release|build|ver|v)\s*[:=]?\s*$", re.IGNORECASE)

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        written = match.group(1)
        if self._VERSION_BEFORE.search(text, max(0, match.start(1) - 12), match.start(1)):
            return None
        try:
            if ":" in written:
                if sum(c not in ":" for c in written) < 4:  # '::', '1::2': too little to be an address in use
                    return None
                ipaddress.IPv6Address(written)
            else:
                ipaddress.IPv4Address(written)  # rejects 256+, and leading zeros ('01.02.03.04')
        except ValueError:
            return None
        return match.span(1)


def version_like(address: str) -> bool:
    """``1.2.3.4`` or ``4.18.0.12``: a first part below 10 and small parts, as software versions have.

    A column where nearly every "address" looks like this is a column of versions (see classify);
    one value alone could be either, so this is never applied to a single value.
    """
    parts = address.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts) and int(parts[0]) < 10 and all(
        int(p) < 100 for p in parts[1:3])


# --- phone numbers -------------------------------------------------------------------------------------

#: country calling codes (ITU-T E.164 assignments); used to check the '+' prefix of an international number
COUNTRY_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 "
    "81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 "
    "232 233 234 235 236 237 238 239 240 241 242 243 244 245 246 248 249 250 251 252 253 254 255 256 257 258 "
    "260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 "
    "371 372 373 374 375 376 377 378 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 506 "
    "507 508 509 590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 "
    "685 686 687 688 689 690 691 692 850 852 853 855 856 880 886 960 961 962 963 964 965 966 967 968 970 971 "
    "972 973 974 975 976 977 992 993 994 995 996 998".split()
)

#: an order, invoice or ticket number written like a phone number is not one
_NOT_A_PHONE_BEFORE = re.compile(
    r"(?:#|\b(?:order|orders|invoice|inv|ref|reference|tracking|sku|serial|ticket|case|po|id|item|part|"
    r"batch|lot|booking|confirmation)\b)[\s:#.\-]*$", re.IGNORECASE)
_NANP_SHAPE = re.compile(r"^(?:1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}$")
_NATIONAL_SHAPE = re.compile(r"^\(?0\d{1,4}\)?(?:[ .-]\d{2,8}){1,4}$")


def nanp_valid(ten: str) -> bool:
    """North American numbering: area code and exchange start 2-9 and are not N11 (211, 911...)."""
    area, exchange = ten[:3], ten[3:6]
    return area[0] in "23456789" and area[1:] != "11" and exchange[0] in "23456789" and exchange[1:] != "11"


def phone_valid_by_rules(written: str) -> bool:
    """A phone number by E.164 and national numbering rules, without a library: ``+CC`` and 8 to 15
    digits (North American and UK numbers checked further), a North American ``(NXX) NXX-XXXX``, or a
    national number with a trunk ``0`` and grouping separators (``020 7946 0958``)."""
    digits = "".join(c for c in written if c.isdigit())
    if len(set(digits)) <= 2 or written.count("(") != written.count(")") or written.count("(") > 1:
        return False
    if written.startswith("00") and not written.startswith("000"):
        written = "+" + written[2:]  # the international prefix dialled from Europe and most of the world
        digits = digits[2:]
    if written.startswith("+"):
        if not 8 <= len(digits) <= 15:
            return False
        code = next((digits[:n] for n in (1, 2, 3) if digits[:n] in COUNTRY_CODES), None)
        if code is None:
            return False
        national = digits[len(code):]
        if code == "1":
            return len(national) == 10 and nanp_valid(national)
        if code == "44":
            national = national[1:] if national.startswith("0") else national
            return len(national) in (9, 10) and national[0] in "1235789"
        return 6 <= len(national) <= 13
    if _NANP_SHAPE.match(written) and any(c in written for c in " .-()"):
        national = digits[1:] if len(digits) == 11 else digits
        return len(national) == 10 and (len(digits) == 10 or digits[0] == "1") and nanp_valid(national)
    if _NATIONAL_SHAPE.match(written) and 10 <= len(digits) <= 11 and digits[1] != "0":
        return True
    return False


class PhoneDetector(Detector):
    kind = "phone"
    title = "phone number"
    #: the number, then an optional extension (``x124``, ``ext. 12``), which is masked with it
    pattern = re.compile(r"(?<![\w#+/.,:-])(\+?\(?\d[\d ().-]{5,22}\d)((?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?)"
                         r"(?![\w/:-]|[.,]\d)", re.IGNORECASE)

    def __init__(self, validate: Callable[[str], bool] = phone_valid_by_rules):
        self._validate = validate

    #: a bare run of 10 or 11 digits: only where the column's name says phone (any ID would match)
    bare = re.compile(r"(?<![\w+-])(\d{10,11})(?![\w-])")

    def quick(self, known: Facts) -> bool:
        return known.digits >= 7

    def scan_bare(self, text: str) -> Scanned:
        candidates, spans = 0, []
        for match in self.bare.finditer(text):
            candidates += 1
            digits = match.group(1)
            national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
            if (len(national) == 10 and nanp_valid(national)) or (digits[0] == "0" and digits[1] != "0"):
                spans.append(match.span(1))
        return Scanned(candidates, tuple(spans))

    def valid(self, match: re.Match[str], text: str) -> tuple[int, int] | None:
        written = match.group(1).rstrip(" .-(")
        if not written or not self._validate(written):
            return None
        if _NOT_A_PHONE_BEFORE.search(text, max(0, match.start(1) - 24), match.start(1)):
            return None
        end = match.end(2) if match.group(2) else match.start(1) + len(written)
        return match.start(1), end


# --- all of them ---------------------------------------------------------------------------------------

EMAIL = EmailDetector()
CARD = CardDetector()
IBAN = IbanDetector()
SSN = SsnDetector()
NINO = NinoDetector()
IP = IpDetector()
PHONE = PhoneDetector()

#: in the order overlapping spans are resolved: the first one claims the characters
DETECTORS: tuple[Detector, ...] = (EMAIL, IBAN, CARD, SSN, NINO, IP, PHONE)
BY_KIND: dict[str, Detector] = {d.kind: d for d in DETECTORS}

#: kinds found by column (dates of birth, names, locations) rather than by value, and name-only kinds
TITLES: dict[str, str] = {
    **{d.kind: d.title for d in DETECTORS},
    "date_of_birth": "date of birth",
    "person_name": "person name",
    "location": "location (city, address, postal code)",
    "national_id": "national identifier",
}
TIERS: dict[str, Tier] = {
    **{d.kind: d.tier for d in DETECTORS},
    "date_of_birth": Tier.ELEVATED,
    "person_name": Tier.TOP,
    "location": Tier.ELEVATED,
    "national_id": Tier.TOP,
}


def scan_value(text: str, evidence: NameEvidence = NEUTRAL,
               detectors: Sequence[Detector] = DETECTORS) -> dict[str, Scanned]:
    """Every detector over one value, for the kinds the column's name does not rule out.

    Validated spans that overlap a span of an earlier detector (in :data:`DETECTORS` order) are
    dropped, so the digits of an IBAN or a card are not also a phone number; they still count as
    candidates.
    """
    found: dict[str, Scanned] = {}
    taken: list[tuple[int, int]] = []
    known = facts(text)
    if not known.at and known.digits < 4 and known.colons < 2:
        return found  # nothing any detector needs: most text ends here
    negative = evidence.negative
    for detector in detectors:
        if not detector.quick(known) or (negative and detector.kind in negative):
            continue
        scanned = detector.run(text)
        if not scanned.spans and evidence.positive and (detector is SSN or detector is PHONE) \
                and evidence.suggests(detector.kind):
            scanned = detector.scan_bare(text)  # type: ignore[attr-defined]
        if not scanned.candidates:
            continue
        if taken and scanned.spans:
            kept = tuple(s for s in scanned.spans if all(s[1] <= t[0] or s[0] >= t[1] for t in taken))
            scanned = Scanned(scanned.candidates, kept)
        taken.extend(scanned.spans)
        found[detector.kind] = scanned
    return found


def hits(text: str, evidence: NameEvidence = NEUTRAL, detectors: Sequence[Detector] = DETECTORS) -> list[Hit]:
    """Validated spans of every kind, in text order, none overlapping another (see :func:`scan_value`)."""
    found = [Hit(kind, start, end) for kind, scanned in scan_value(text, evidence, detectors).items()
             for start, end in scanned.spans]
    found.sort(key=lambda h: h.start)
    return found


def mask(text: str, found: Iterable[Hit]) -> str:
    """The value with every span replaced by ``*****`` (the project's redact text); the rest is kept."""
    pieces: list[str] = []
    position = 0
    for hit in sorted(found, key=lambda h: h.start):
        pieces.append(text[position:hit.start])
        pieces.append(MASK)
        position = hit.end
    pieces.append(text[position:])
    return "".join(pieces)
