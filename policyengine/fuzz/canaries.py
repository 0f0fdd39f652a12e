"""Canaries: unmistakable values planted in every protected column of the demo data.

A principal who may not see a column raw must never receive its canary, in a result, an error or
a wire message; which canaries are forbidden to whom follows from the decision alone.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from policyengine.decision import Outcome, Subject, decide
from policyengine.model import PolicySet

CANARY_USER = {
    "UserID": "CANARYUSER1", "FullName": "Xcanaryfullname_51ab", "Email": "canary_local_9f1e@canary.example",
    "Phone": "+00 canaryphone 4321", "BirthDate": dt.date(1901, 7, 13), "Gender": "canarygender",
    "City": "CANARYCITY", "Country": "US", "PostalCode": "CANARYPOSTAL", "NationalID": "CANARYNID-000",
    "Iban": "CANARYIBAN77", "MarketingConsent": False,
}
CANARY_REVIEW = {
    "ReviewID": "R-CANARY-1", "UserID": "CANARYUSER1", "ProductID": "P0001", "Rating": 3,
    "ReviewText": "Fine product overall and CANARYTEXTSECRET", "CreatedAt": dt.datetime(2023, 3, 17, 13, 37, 42),
}
CANARY_VERIFIED = {
    "ReviewID": "R-CANARY-NA", "UserID": "CANARYUSER1", "ReviewSentiment": decimal.Decimal("0.5"),
    "BirthYear": 1907253, "Gender": 7654321, "Location": "US",
}

#: (table, column) -> what would betray the raw value: a secret substring (lower case), or the exact typed value
CANARIES: dict[tuple[str, str], Any] = {
    ("user_demographics", "UserID"): "canaryuser",
    ("user_demographics", "FullName"): "canaryfullname",
    ("user_demographics", "Email"): "canary_local_9f1e",
    ("user_demographics", "Phone"): "canaryphone",
    ("user_demographics", "BirthDate"): dt.date(1901, 7, 13),
    ("user_demographics", "Gender"): "canarygender",
    ("user_demographics", "City"): "canarycity",
    ("user_demographics", "PostalCode"): "canarypostal",
    ("user_demographics", "NationalID"): "canarynid",
    ("user_demographics", "Iban"): "canaryiban",
    ("reviews", "UserID"): "canaryuser",
    ("reviews", "ReviewText"): "canarytext",
    ("reviews", "CreatedAt"): dt.datetime(2023, 3, 17, 13, 37, 42),
    ("verified_reviews", "UserID"): "canaryuser",
    # integers no count or sum over the demo data comes near (a window count over a join reached 1907)
    ("verified_reviews", "BirthYear"): CANARY_VERIFIED["BirthYear"],
    ("verified_reviews", "Gender"): CANARY_VERIFIED["Gender"],
}
ROW_CANARY = "r-canary-na"  # a verified review from the US: hidden from EU analysts by the row filter


def plant(path: Path) -> None:
    """Add the canary rows to a demo database."""
    with duckdb.connect(str(path)) as con:
        for table, row in (("user_demographics", CANARY_USER), ("reviews", CANARY_REVIEW),
                           ("verified_reviews", CANARY_VERIFIED)):
            columns = ", ".join(f'"{c}"' for c in row)
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        con.execute("INSERT INTO reviews VALUES "
                    "('R-CANARY-2', 'CANARYUSER1', 'P0002', 1, NULL, TIMESTAMP '2022-01-01')")


def forbidden(policy_set: PolicySet, subject: Subject, env: str | None, row_visible: bool | None = None) -> list[Any]:
    """The canaries this subject must never receive in this environment. ``row_visible`` says whether
    the row filter lets the subject see the canary row (known from a materialized copy); without it,
    the row is taken as hidden unless the filter is plainly true or names the row's country."""
    out: list[Any] = []
    for (table, column), canary in CANARIES.items():
        decision = decide(policy_set, subject, env, table)
        choice = decision.column(column) if decision.allowed else None
        if choice is None or choice.outcome is not Outcome.RAW:
            out.append(canary)
    verified = decide(policy_set, subject, env, "verified_reviews")
    if row_visible is None:
        row_visible = "US" in verified.rows.describe() or verified.rows.describe() in ("(TRUE)", "all rows")
    if verified.allowed and not row_visible:
        out.append(ROW_CANARY)
    return out


def cells(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from cells(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from cells(item)
    else:
        yield value


def leaks(values: Any, canaries: list[Any]) -> list[Any]:
    """(canary, value) for each forbidden canary found in these values (or in this text)."""
    found = []
    for value in cells(values):
        for canary in canaries:
            if isinstance(canary, str):
                if canary in str(value).lower():
                    found.append((canary, value))
            elif type(value) is type(canary) and value == canary:
                found.append((canary, value))
    return found
