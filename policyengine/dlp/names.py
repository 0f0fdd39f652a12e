"""What a column's name says about its content.

A name is evidence, never proof: ``phone`` is a strong hint, and ``order_number`` or ``version`` is
the reason a column of ``555-123-4567`` or ``1.2.3.4`` values is *not* phones or IP addresses. Names
are split into lower-case words (``BirthDate``, ``birth_date`` and ``birth-date`` are
``birth date``) and matched word by word, so ``email`` matches ``ContactEmail`` but ``tel`` does not
match ``hotel``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: kinds a name can suggest; the content kinds of :mod:`policyengine.dlp.detectors`, plus
#: ``national_id`` (a national identifier of a format the detectors do not know)
_POSITIVE: dict[str, tuple[str, ...]] = {
    "email": ("email", "e mail", "mail", "email address", "mail address"),
    "phone": ("phone", "telephone", "tel", "mobile", "cell", "cellphone", "fax", "msisdn", "phone number",
              "mobile number", "tel no", "phone no"),
    "card": ("card number", "card no", "cc number", "ccn", "pan", "credit card", "debit card", "card pan"),
    "iban": ("iban", "bank account", "account iban"),
    "us_ssn": ("ssn", "social security", "social security number", "social security no"),
    "uk_nino": ("nino", "ni number", "national insurance", "national insurance number", "ni no"),
    "national_id": ("national id", "nationalid", "tax id", "taxid", "tin", "passport", "passport number",
                    "id number", "personal id", "citizen id", "steuer id", "bsn", "insee"),
    "ip_address": ("ip", "ip address", "ipaddr", "ip addr", "remote addr", "client ip", "ipv4", "ipv6",
                   "remote ip", "source ip", "src ip"),
    "date_of_birth": ("dob", "birth", "birthdate", "birthday", "born", "date of birth", "birth date",
                      "geburtsdatum", "date naissance"),
    "person_name": ("full name", "first name", "last name", "surname", "given name", "family name",
                    "forename", "firstname", "lastname", "fullname", "middle name", "maiden name",
                    "customer name", "contact name", "person name", "employee name", "name"),
    "location": ("city", "town", "address", "street", "addr", "zip", "zipcode", "zip code", "postcode",
                 "post code", "postal", "postal code", "latitude", "longitude", "lat", "lon", "lng", "geo",
                 "geolocation", "home address", "street address", "address line"),
}

#: words that make a name say "this is not personal data of that kind", whatever the content looks like
_NEGATIVE: dict[str, tuple[str, ...]] = {
    "ip_address": ("version", "release", "build", "revision", "semver", "firmware", "ver", "oid", "schema"),
    "phone": ("order", "invoice", "sku", "part", "product", "serial", "tracking", "ref", "reference", "batch",
              "ticket", "booking", "shipment", "isbn", "ean", "upc", "gtin", "barcode", "code"),
    "us_ssn": ("order", "invoice", "sku", "part", "product", "serial", "tracking", "code", "batch", "lot"),
    "uk_nino": ("voucher", "coupon", "promo", "code", "sku", "booking", "ref", "reference", "product"),
    "card": ("isbn", "ean", "upc", "gtin", "barcode", "account id", "accountid", "customer id", "order",
             "tracking", "serial", "imei"),
    "iban": ("sku", "product", "part", "code", "model", "item"),
    "date_of_birth": ("order", "created", "updated", "modified", "ship", "shipped", "release", "released",
                      "published", "start", "end", "due", "expiry", "expires", "event", "purchase", "signup",
                      "founded", "opened", "closed", "delivery", "paid", "posted", "last", "login"),
    "person_name": ("product", "company", "brand", "file", "table", "model", "item", "city", "street",
                    "country", "region", "category", "host", "domain", "app", "project", "team", "store",
                    "shop", "vendor", "supplier", "org", "organisation", "organization", "user", "username",
                    "display", "column", "field", "tag", "label", "title", "collection", "sku", "event",
                    "campaign", "school", "bank"),
    "location": ("product", "model", "brand", "item", "sku", "title", "collection", "category", "server",
                 "warehouse", "bin"),
}

#: negative words that name a format of their own, which the kind's validator can accept as well: an
#: IMEI passes Luhn by design, and ISBN/EAN/UPC/GTIN numbers carry a check digit of their own. Such a
#: name is a *strong* hint, and stays decisive even for kinds whose content is checked by a checksum.
#: Every other negative word (``sku``, ``code``, ``serial``, ``order``...) only says "some identifier":
#: a *weak* hint, which content that validates beyond chance outweighs (see
#: :func:`policyengine.dlp.classify.classify_column`).
_LOOKALIKE: dict[str, tuple[str, ...]] = {
    "card": ("isbn", "ean", "upc", "gtin", "barcode", "imei"),
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


def words(name: str) -> tuple[str, ...]:
    """``BirthDate`` -> ``('birth', 'date')``; ``IPAddress`` -> ``('ip', 'address')``."""
    spaced = _CAMEL.sub(" ", name.strip())
    return tuple(w for w in _SPLIT.split(spaced.lower()) if w)


def _contains(tokens: tuple[str, ...], phrase: str) -> bool:
    wanted = tuple(phrase.split())
    n = len(wanted)
    joined = "".join(tokens)
    if n == 1 and wanted[0] == joined:  # 'birthdate' written as one word, 'BIRTHDATE'
        return True
    return any(tokens[i:i + n] == wanted for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class NameEvidence:
    """Kinds the name suggests, and kinds it rules out (``version`` rules out IP addresses).

    ``strong`` is the part of ``negative`` that comes from a word naming a look-alike format (``imei``,
    ``ean``): the rest of ``negative`` is a weak hint, which validated content may outweigh.
    """

    positive: frozenset[str] = frozenset()
    negative: frozenset[str] = frozenset()
    strong: frozenset[str] = frozenset()

    def suggests(self, kind: str) -> bool:
        return kind in self.positive and kind not in self.negative

    def rules_out(self, kind: str) -> bool:
        return kind in self.negative

    def weakly_rules_out(self, kind: str) -> bool:
        """The name rules the kind out only by saying "an identifier" (``sku``, ``serial``), without
        naming a format the kind's validator would also accept."""
        return kind in self.negative and kind not in self.strong


NEUTRAL = NameEvidence()


@lru_cache(maxsize=8192)
def name_evidence(name: str) -> NameEvidence:
    """The evidence in one column name (cached: the egress check asks for the same names often)."""
    tokens = words(name)
    if not tokens:
        return NEUTRAL
    negative = frozenset(kind for kind, phrases in _NEGATIVE.items() if any(_contains(tokens, p) for p in phrases))
    strong = frozenset(kind for kind, phrases in _LOOKALIKE.items()
                       if any(_contains(tokens, p) for p in phrases))
    positive = {kind for kind, phrases in _POSITIVE.items() if any(_contains(tokens, p) for p in phrases)}
    if "person_name" in positive and "name" in tokens and len(tokens) > 1 and "person_name" in negative:
        positive.discard("person_name")  # product_name, company_name, username
    if "email" in positive:
        positive.discard("person_name")  # 'email name'? never mind: email wins
    return NameEvidence(frozenset(positive), negative, strong & negative)
