"""upper(), lower() and initcap() as PostgreSQL computes them in the C locale: ASCII letters only.

The front door presents a database whose collation and character classification are ``C``
(lc_collate, lc_ctype, pg_database.datcollate/datctype): C is what DuckDB's byte-order sorting of
text is, so it is the locale the front door can be consistent with. In the C locale PostgreSQL maps
only ``A``-``Z`` and ``a``-``z`` (``lower('ÄÖü straße')`` is unchanged, ``upper`` leaves ``ß``), and
``initcap`` takes every byte that is not an ASCII letter or digit as a word boundary
(``initcap('ÄÖü straße')`` is ``ÄÖü StraßE``: formatting.c, str_initcap with pg_ascii_toupper); DuckDB's
functions map all of Unicode (``ß`` to ``ẞ``). Each becomes DuckDB's ``translate`` of the ASCII
letters; initcap, the words of ASCII letters and digits found by a regular expression, each with its
first character upper-cased and the rest lower-cased.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from policyengine.rewrite.refusal import Refused

if TYPE_CHECKING:
    from policyengine.rewrite.postgres_semantics import Context

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()


def _refused(what: str, hint: str) -> Refused:
    return Refused(f"{what} cannot be given PostgreSQL's exact meaning here: {hint}", kind="unsupported")


def _translate(value: exp.Expression, source: str, target: str) -> exp.Expression:
    if isinstance(value, exp.Literal) and value.is_string:  # a constant: mapped here
        return exp.Literal.string(str(value.this).translate(str.maketrans(source, target)))
    return exp.Anonymous(this="TRANSLATE", expressions=[value, exp.Literal.string(source), exp.Literal.string(target)])


#: initcap of the placeholder ``pe_initcap_value``: runs of ASCII letters and digits (a word) and of
#: anything else, each word with its first character upper-cased and the rest lower-cased
_INITCAP = sqlglot.parse_one(
    "ARRAY_TO_STRING(LIST_TRANSFORM(REGEXP_EXTRACT_ALL(pe_initcap_value, '[A-Za-z0-9]+|[^A-Za-z0-9]+'), "
    f"LAMBDA pe_word : TRANSLATE(LEFT(pe_word, 1), '{_LOWER}', '{_UPPER}') || "
    f"TRANSLATE(SUBSTRING(pe_word, 2), '{_UPPER}', '{_LOWER}')), '')", read="duckdb")


def ascii_case(tree: exp.Expression, context: Context) -> exp.Expression:
    """``upper``, ``lower`` and ``initcap`` map ASCII letters only, as PostgreSQL's do in the C locale.

    So does ``ILIKE``: PostgreSQL lower-cases the text and the pattern with ``lower()`` and matches them
    with LIKE (like.c, Generic_Text_IC_like), so ``'Ä' ILIKE 'ä'`` is false there, true in DuckDB. It
    becomes LIKE of the two ASCII-lower-cased (an ESCAPE that is a letter, which PostgreSQL applies before
    lower-casing, is refused). ``~*`` with a constant pattern of other than ASCII characters is refused:
    PostgreSQL's regular expressions fold only ASCII letters in the C locale, DuckDB's all of Unicode."""
    for node in list(tree.find_all(exp.ILike)):
        holder = node.parent if isinstance(node.parent, exp.Escape) and node.arg_key == "this" else None
        escape = holder.expression if holder is not None else None
        if escape is not None and not (isinstance(escape, exp.Literal) and escape.is_string
                                       and not str(escape.this).isalpha()):
            raise _refused("ILIKE with an ESCAPE that is a letter or not a constant",
                           "PostgreSQL applies the escape before lower-casing")
        node.replace(exp.Like(this=_translate(node.this, _UPPER, _LOWER),
                              expression=_translate(node.expression, _UPPER, _LOWER),
                              negate=node.args.get("negate")))
    for node in tree.find_all(exp.RegexpILike):
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string and not str(pattern.this).isascii():
            raise _refused(f"~* of the pattern '{pattern.this}'",
                           "PostgreSQL folds the case of ASCII letters only (the C locale)")
    for node in list(tree.find_all(exp.Upper, exp.Lower, exp.Initcap)):
        value = node.this
        if isinstance(node, exp.Initcap):
            replaced = _INITCAP.copy()
            placeholder = next(c for c in replaced.find_all(exp.Column) if c.name == "pe_initcap_value")
            placeholder.replace(value)
        elif isinstance(node, exp.Upper):
            replaced = _translate(value, _LOWER, _UPPER)
        else:
            replaced = _translate(value, _UPPER, _LOWER)
        node.replace(replaced)
    return tree
