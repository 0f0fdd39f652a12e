"""upper(), lower(), initcap() and ILIKE as PostgreSQL computes them in the C locale: ASCII letters only.

The front door presents a database whose collation and character classification are ``C``
(lc_collate, lc_ctype, pg_database.datcollate/datctype): C is what DuckDB's byte-order sorting of
text is, so it is the locale the front door can be consistent with. In the C locale PostgreSQL maps
only ``A``-``Z`` and ``a``-``z`` (``lower('ÄÖü straße')`` is unchanged, ``upper`` leaves ``ß``), and
``initcap`` takes every byte that is not an ASCII letter or digit as a word boundary
(``initcap('ÄÖü straße')`` is ``ÄÖü StraßE``: formatting.c, str_initcap with pg_ascii_toupper); DuckDB's
functions map all of Unicode (``ß`` to ``ẞ``). A text that is all ASCII (as many bytes as characters)
keeps DuckDB's functions, which are PostgreSQL's there; any other gets DuckDB's ``translate`` of the
ASCII letters (some 30 times slower). initcap is the words of ASCII letters and digits found by a
regular expression, each with its first character upper-cased and the rest lower-cased. A constant is
mapped by the rewrite itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from policyengine.rewrite.refusal import Refused

if TYPE_CHECKING:
    from policyengine.rewrite.postgres_semantics import Context

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()

#: initcap of the placeholder ``pe_initcap_value``: runs of ASCII letters and digits (a word) and of
#: anything else, each with its first character upper-cased (PE_UPPER) and the rest lower-cased (PE_LOWER)
_INITCAP = sqlglot.parse_one(
    "ARRAY_TO_STRING(LIST_TRANSFORM(REGEXP_EXTRACT_ALL(pe_initcap_value, '[A-Za-z0-9]+|[^A-Za-z0-9]+'), "
    "LAMBDA pe_word : PE_UPPER(LEFT(pe_word, 1)) || PE_LOWER(SUBSTRING(pe_word, 2))), '')", read="duckdb")


def _refused(what: str, hint: str) -> Refused:
    return Refused(f"{what} cannot be given PostgreSQL's exact meaning here: {hint}", kind="unsupported")


def initcap_c(text: str) -> str:
    """PostgreSQL's initcap in the C locale: an ASCII letter after an ASCII letter or digit lower-cased,
    any other upper-cased; nothing else changes.

    >>> initcap_c("ÄÖü straße x1y-aB")
    'ÄÖü StraßE X1y-Ab'
    """
    out, after_word = [], False
    for char in text:
        out.append((char.lower() if after_word else char.upper()) if char.isascii() and char.isalpha() else char)
        after_word = char.isascii() and char.isalnum()
    return "".join(out)


def _translate(value: exp.Expression, source: str, target: str) -> exp.Expression:
    return exp.Anonymous(this="TRANSLATE", expressions=[value.copy(), exp.Literal.string(source),
                                                        exp.Literal.string(target)])


def _when_ascii(value: exp.Expression, fast: exp.Expression, slow: exp.Expression) -> exp.Expression:
    """``fast`` when ``value`` is all ASCII (as many bytes as characters), else ``slow``."""
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Anonymous(this="STRLEN", expressions=[value.copy()]),
                                            expression=exp.Length(this=value.copy())), true=fast)], default=slow)


def _initcap(value: exp.Expression, upper: Callable[[exp.Expression], exp.Expression],
             lower: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    made = _INITCAP.copy()
    for call in list(made.find_all(exp.Anonymous)):
        call.replace((upper if call.name.upper() == "PE_UPPER" else lower)(call.expressions[0]))
    placeholder = made.find(exp.Column)
    assert placeholder is not None and placeholder.name == "pe_initcap_value"
    placeholder.replace(value.copy())
    return made


def _mapped(node: exp.Expression, value: exp.Expression) -> exp.Expression:
    """``upper``, ``lower`` or ``initcap`` (``node``'s kind) of ``value``, ASCII letters only."""
    if isinstance(value, exp.Literal) and value.is_string:  # a constant: computed here
        text = str(value.this)
        return exp.Literal.string(initcap_c(text) if isinstance(node, exp.Initcap) else
                                  text.translate(str.maketrans(_LOWER, _UPPER)) if isinstance(node, exp.Upper)
                                  else text.translate(str.maketrans(_UPPER, _LOWER)))
    if isinstance(node, exp.Initcap):
        return _when_ascii(value, _initcap(value, lambda w: exp.Upper(this=w), lambda w: exp.Lower(this=w)),
                           _initcap(value, lambda w: _translate(w, _LOWER, _UPPER),
                                    lambda w: _translate(w, _UPPER, _LOWER)))
    if isinstance(node, exp.Upper):
        return _when_ascii(value, exp.Upper(this=value.copy()), _translate(value, _LOWER, _UPPER))
    return _when_ascii(value, exp.Lower(this=value.copy()), _translate(value, _UPPER, _LOWER))


def ascii_case(tree: exp.Expression, context: Context) -> exp.Expression:
    """``upper``, ``lower`` and ``initcap`` map ASCII letters only, as PostgreSQL's do in the C locale.

    So does ``ILIKE``: PostgreSQL lower-cases the text and the pattern with ``lower()`` and matches them
    with LIKE (like.c, Generic_Text_IC_like), so ``'Ä' ILIKE 'ä'`` is false there, true in DuckDB. It
    becomes LIKE of the two ASCII-lower-cased (an ESCAPE that is a letter, which PostgreSQL applies before
    lower-casing, is refused). ``~*`` with a constant pattern of other than ASCII characters is refused:
    PostgreSQL's regular expressions fold only ASCII letters in the C locale, DuckDB's all of Unicode.

    >>> sql = "SELECT upper('ÄÖü straße'), initcap('ÄÖü straße'), 'Ä' ILIKE 'ä'"
    >>> ascii_case(sqlglot.parse_one(sql, read="postgres"), None).sql("duckdb")
    "SELECT 'ÄÖü STRAßE', 'ÄÖü StraßE', 'Ä' LIKE 'ä'"
    """
    for node in reversed(list(tree.find_all(exp.Upper, exp.Lower, exp.Initcap))):  # the innermost first, before
        # the ILIKEs, whose own LOWER is not mapped again
        node.replace(_mapped(node, node.this))
    for node in list(tree.find_all(exp.ILike)):
        holder = node.parent if isinstance(node.parent, exp.Escape) and node.arg_key == "this" else None
        escape = holder.expression if holder is not None else None
        if escape is not None and not (isinstance(escape, exp.Literal) and escape.is_string
                                       and not str(escape.this).isalpha()):
            raise _refused("ILIKE with an ESCAPE that is a letter or not a constant",
                           "PostgreSQL applies the escape before lower-casing")
        node.replace(exp.Like(this=_mapped(exp.Lower(), node.this), expression=_mapped(exp.Lower(), node.expression),
                              negate=node.args.get("negate")))
    for node in tree.find_all(exp.RegexpILike):
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string and not str(pattern.this).isascii():
            raise _refused(f"~* of the pattern '{pattern.this}'",
                           "PostgreSQL folds the case of ASCII letters only (the C locale)")
    return tree
