"""The decision over the example policy set: every role in every environment, table by table.

The expectations are written out by hand from what the policy files say (the profiles below),
not computed, so a change in the decision's logic shows up here as a diff a person can read.
"""

from __future__ import annotations

import pytest

from policyengine.decision import DecisionError, Outcome, RowScope, decide, subject_for

# What a role sees of each column that is NOT raw, at a given clearance. Written from the contracts.
REGULAR = {
    "reviews.UserID": "tokenize",
    "reviews.ReviewText": "generalize(keep=24)",
    "reviews.CreatedAt": "generalize(to='month')",
    "user_demographics.UserID": "tokenize",
    "user_demographics.FullName": "partial(show_first=1)",
    "user_demographics.Email": "email",
    "user_demographics.Phone": "partial(show_last=4, char='#')",
    "user_demographics.BirthDate": "generalize(to='year')",
    "user_demographics.Gender": "redact",
    "user_demographics.City": "custom(expr=\"CASE WHEN MarketingConsent THEN val ELSE '(withheld)' END\")",
    "user_demographics.PostalCode": "nullify",
    "user_demographics.NationalID": "denied",
    "user_demographics.Iban": "encrypt",
    "verified_reviews.UserID": "hash",
    "verified_reviews.BirthYear": "generalize(bucket=10)",
    "verified_reviews.Gender": "redact",
    # the derived table (tables/review_summary.yaml): what derive propagated from its sources
    "review_summary.UserID": "hash",
    "review_summary.ContactEmail": "email",
    "review_summary.BirthDecade": "redact",
    "review_summary.ConsentedCity": "redact",
    "review_summary.LastReviewAt": "generalize(to='month')",
}
INTERNAL = {k: v for k, v in REGULAR.items()
            if k not in ("reviews.CreatedAt", "user_demographics.Gender", "verified_reviews.Gender",
                         "review_summary.LastReviewAt")}
# support's unmask names user_demographics' columns: it does not carry over to review_summary.ContactEmail
SUPPORT = {k: v for k, v in INTERNAL.items() if k not in ("user_demographics.Email", "user_demographics.Phone")}
RESTRICTED: dict[str, str] = {}
REFUSED = None

REGION_RULE = "(Country IN (SELECT Country FROM region_countries WHERE Region = principal_attribute('region')))"
REGION_RULE_VR = "(Location IN (SELECT Country FROM region_countries WHERE Region = principal_attribute('region')))"
MARKETS = "(Location IN ('US', 'GB', 'DE', 'FR'))"
MARKETS_RS = "(Country IN ('US', 'GB', 'DE', 'FR'))"


def rows(user_demographics: str = "(TRUE)", verified_reviews: str = "(TRUE)",
         review_summary: str = "(TRUE)") -> dict[str, str]:
    return {"region_countries": "all rows", "reviews": "all rows",
            "user_demographics": user_demographics, "verified_reviews": verified_reviews,
            "review_summary": review_summary}


NO_ROWS = "no rows (no row access rule names these roles)"
ALL_ROWS = rows()

MATRIX = {
    # role: {env: (profile of non-raw columns, row filters) or REFUSED}
    "admin": {env: (RESTRICTED, ALL_ROWS) for env in ("dev", "staging", "prod")},
    "developer": {"dev": (RESTRICTED, ALL_ROWS), "staging": (REGULAR, ALL_ROWS), "prod": REFUSED},
    "non_prod_data_reader": {"dev": (INTERNAL, ALL_ROWS), "staging": (REGULAR, ALL_ROWS), "prod": REFUSED},
    "prod_database_reader": {"dev": REFUSED, "staging": REFUSED, "prod": (INTERNAL, ALL_ROWS)},
    "marketing_analyst": {env: (REGULAR, rows(verified_reviews=MARKETS, review_summary=MARKETS_RS))
                          for env in ("dev", "staging", "prod")},
    "bi_analyst": {env: (REGULAR, rows(REGION_RULE, REGION_RULE_VR, REGION_RULE))
                   for env in ("dev", "staging", "prod")},
    "data_scientist": {env: (INTERNAL, ALL_ROWS) for env in ("dev", "staging", "prod")},
    "support": {env: (SUPPORT, ALL_ROWS) for env in ("dev", "staging", "prod")},
    # reader is a base role: cleared for regular data, but named in no row access rule
    "reader": {env: (REGULAR, rows(NO_ROWS, NO_ROWS, NO_ROWS)) for env in ("dev", "staging", "prod")},
}

CASES = [(role, env) for role, envs in MATRIX.items() for env in envs]


def test_matrix_covers_every_role_and_environment(example):
    assert {role.key for role in example.roles.values()} == set(MATRIX)
    assert all(set(envs) == set(example.settings.environments) for envs in MATRIX.values())


@pytest.mark.parametrize(("role", "env"), CASES, ids=[f"{r}-{e}" for r, e in CASES])
def test_role_in_environment(example, role, env):
    subject = subject_for(example, roles=[role])
    expected = MATRIX[role][env]
    for table in example.tables.values():
        decision = decide(example, subject, env, table.name)
        if expected is REFUSED:
            assert not decision.allowed
            assert decision.refused == f"role {role} has no access in {env}"
            assert decision.columns == ()
            continue
        profile, row_filters = expected
        assert decision.allowed, decision.refused
        seen = {f"{table.name}.{c.column.name}": c.shows for c in decision.columns if c.outcome is not Outcome.RAW}
        assert seen == {k: v for k, v in profile.items() if k.startswith(table.name + ".")}
        assert decision.rows.describe() == row_filters[table.name]


def test_denied_column_is_denied_not_protected(example):
    decision = decide(example, subject_for(example, roles=["marketing_analyst"]), "prod", "user_demographics")
    national_id = decision.column("NationalID")
    assert national_id.outcome is Outcome.DENIED
    assert decision.column("Iban").outcome is Outcome.PROTECTED


def test_principal_carries_roles_and_attributes(example):
    subject = subject_for(example, principal="bob")
    assert subject.roles == ("bi_analyst",) and subject.attributes == {"region": "EU"}
    decision = decide(example, subject, None, "verified_reviews")
    assert decision.grant.environment == "prod"  # the set's default_environment
    assert decision.grant.active == ("bi_analyst", "reader")
    assert decision.rows.scope is RowScope.RULES


def test_several_roles_most_permissive_wins(example):
    both = subject_for(example, roles=["marketing_analyst", "support"])
    decision = decide(example, both, "prod", "user_demographics")
    assert decision.column("Email").outcome is Outcome.RAW  # support's unmask
    assert decision.column("Gender").outcome is Outcome.RAW  # support's clearance internal
    assert decision.column("FullName").shows == "partial(show_first=1)"
    # rows: union of both roles' rules
    assert decide(example, both, "prod", "verified_reviews").rows.describe() == f"{MARKETS} OR (TRUE)"


def test_developer_with_prod_reader_reads_prod(example):
    decision = decide(example, subject_for(example, roles=["developer", "prod_database_reader"]), "prod", "reviews")
    assert decision.allowed
    assert decision.grant.active == ("prod_database_reader",)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"roles": ["nobody"]}, "unknown role 'nobody'"),
    ({"principal": "mallory"}, "unknown principal 'mallory'"),
    ({}, "name a role or a principal"),
])
def test_bad_subject_is_a_usage_error(example, kwargs, message):
    with pytest.raises(DecisionError, match=message):
        subject_for(example, **kwargs)


def test_unknown_environment_is_a_usage_error(example):
    with pytest.raises(DecisionError, match="unknown environment 'qa'"):
        decide(example, subject_for(example, roles=["admin"]), "qa", "reviews")


def test_unknown_table_is_refused(example):
    decision = decide(example, subject_for(example, roles=["admin"]), "prod", "salaries")
    assert decision.refused == "unknown table 'salaries': no contract describes it"


def test_table_names_match_case_insensitively(example):
    decision = decide(example, subject_for(example, roles=["admin"]), "PROD", "VERIFIED_REVIEWS")
    assert decision.allowed and decision.table_name == "verified_reviews"


BLOCKING_SET = {
    "roles.yaml": """
        roles:
          reader: {clearance: internal, unmask: [t.secret]}
          intern: {inherits: [reader], clearance: {prod: none}}
          lead: {inherits: [intern], clearance: {dev: restricted}}
          auditor: {}
        """,
    "tables/t.yaml": """
        columns:
          - {name: id, type: INTEGER, sensitivity: public}
          - {name: secret, type: STRING, sensitivity: restricted, protection: redact}
          - {name: note, type: STRING, sensitivity: confidential, protection: nullify}
        row_access:
          - {roles: [reader], where: "id > 0"}
          - {roles: [auditor], where: "TRUE"}
        """,
}


def test_explicit_none_blocks_inherited_access(write_set):
    from policyengine import load_policy_set

    policy_set = load_policy_set(write_set(BLOCKING_SET))
    intern = subject_for(policy_set, roles=["intern"])
    assert decide(policy_set, intern, "prod", "t").refused == "role intern has no access in prod"
    dev = decide(policy_set, intern, "dev", "t")
    assert dev.grant.level == "internal"
    assert dev.column("secret").outcome is Outcome.RAW  # reader's unmask, inherited
    assert dev.column("note").shows == "nullify"
    # lead inherits intern, which blocks prod: lead reads nothing there either
    assert not decide(policy_set, subject_for(policy_set, roles=["lead"]), "prod", "t").allowed
    lead_dev = decide(policy_set, subject_for(policy_set, roles=["lead"]), "dev", "t")
    assert lead_dev.grant.level == "restricted"
    assert lead_dev.rows.describe() == "(id > 0)"


def test_role_without_clearance_has_no_access_and_its_rules_do_not_count(write_set):
    from policyengine import load_policy_set

    policy_set = load_policy_set(write_set(BLOCKING_SET))
    assert not decide(policy_set, subject_for(policy_set, roles=["auditor"]), "dev", "t").allowed
    both = decide(policy_set, subject_for(policy_set, roles=["auditor", "reader"]), "dev", "t")
    assert both.grant.active == ("reader",)
    assert both.rows.describe() == "(id > 0)"  # auditor's TRUE does not widen: auditor has no access
