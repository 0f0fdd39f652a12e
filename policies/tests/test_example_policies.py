"""Policy tests for the Verified Reviews example, written as a data team writes its own.

They use only what installing policyengine gives pytest: the ``policy_connection`` fixture and the
``policyengine.testing`` assertions. Configure the policy set and database in pytest's ini file:

    [pytest]
    policyengine_policies = policies
    policyengine_database = demo.duckdb

The key for the hashed, tokenized and encrypted columns is found as everywhere else: POLICYENGINE_KEY,
POLICYENGINE_KEY_FILE, ``policyengine_key_file`` in the ini file, then the ``policyengine.key`` that
``policyengine demo`` wrote beside the policy set.
"""

from policyengine.testing import assert_masked, assert_raw, assert_refused, assert_rows


def test_marketing_sees_masked_contact_details(policy_connection):
    cursor = policy_connection(principal="alice").cursor()
    cursor.execute("SELECT Email, Phone, Country FROM user_demographics")
    assert_masked(cursor, "Email", kind="email")
    assert_masked(cursor, "Phone", kind="partial")
    assert_raw(cursor, "Country")
    assert all(email.startswith("*****@") for email, _, _ in cursor.fetchall())


def test_support_sees_contact_details_raw(policy_connection):
    cursor = policy_connection(principal="grace").cursor()
    cursor.execute("SELECT Email FROM user_demographics")
    assert_raw(cursor, "Email")


def test_national_ids_are_refused_below_restricted(policy_connection):
    assert_refused(policy_connection(role="data_scientist"), "SELECT NationalID FROM user_demographics",
                   reason="denied")
    assert_refused(policy_connection(principal="bob"), "SELECT * FROM user_demographics WHERE NationalID IS NULL")


def test_developers_have_no_prod_access(policy_connection):
    assert_refused(policy_connection(role="developer", env="prod"), "SELECT count(*) FROM reviews",
                   reason="no access in prod")


def test_bi_analysts_only_see_their_region(policy_connection):
    cursor = policy_connection(principal="carol").cursor()  # region NA
    cursor.execute("SELECT DISTINCT Location FROM verified_reviews WHERE Location IN ('DE', 'FR', 'GB')")
    assert_rows(cursor, count=0)


def test_data_scientists_join_on_tokens(policy_connection):
    cursor = policy_connection(principal="dave").cursor()
    cursor.execute("SELECT count(*) FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID")
    [(joined,)] = cursor.fetchall()
    cursor.execute("SELECT count(*) FROM reviews")
    assert_rows(cursor, [(joined,)])
