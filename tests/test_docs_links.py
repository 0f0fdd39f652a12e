"""The documentation stands alone: every relative link in README.md and docs/*.md resolves to a file
(or folder) inside the repository, every ``#anchor`` to a heading of its page, and no page points
at a path outside the repository (``../shared/...``), which a reader of the repository alone cannot
follow."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: ``[text](target)`` and ``![alt](target)``, with an optional "title"
INLINE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: ``[label]: target`` reference definitions
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
#: ``href="..."`` and ``src="..."`` in inline HTML
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: a relative path that climbs: ``../x``, ``../../y/z.md``
CLIMBING = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.$@%+-][\w./$@%+-]*)")


def _without_code(text: str) -> str:
    """The text with fenced code blocks and inline code removed: a link inside code is not a link."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def links(path: Path) -> list[str]:
    text = _without_code(path.read_text())
    return INLINE.findall(text) + REFERENCE.findall(text) + HTML.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a page has: one per heading (repeats numbered as GitHub does), and explicit ids."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", path.read_text(), flags=re.MULTILINE | re.DOTALL)
    found: set[str] = set()
    counts: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        base = slug(match.group(1))
        seen = counts.get(base, 0)
        counts[base] = seen + 1
        found.add(base if seen == 0 else f"{base}-{seen}")
    found.update(re.findall(r"""<a\s+(?:name|id)=["']([^"']+)["']""", text))
    return found


def inside_repository(target: Path) -> bool:
    try:
        target.resolve().relative_to(ROOT)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_inside_the_repository(page: Path):
    broken = []
    for link in links(page):
        if SCHEME.match(link):
            continue  # https://..., mailto:: outside the repository by intent (vendors' documentation)
        target_text, _, anchor = link.partition("#")
        target = (page.parent / unquote(target_text)).resolve() if target_text else page
        if target_text.startswith("/"):
            broken.append(f"{link}: an absolute path (write it relative to the page)")
        elif not inside_repository(target):
            broken.append(f"{link}: points outside the repository")
        elif not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading with anchor #{anchor} in {target.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_names_a_path_outside_the_repository(page: Path):
    """Code and prose too: '`../shared/spec/policy-model.md`' is as useless to a reader as a link."""
    outside = []
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        for reference in CLIMBING.findall(line):
            # read from the page's folder or from the repository's root, it must name something in it
            candidates = (page.parent / reference.rstrip("."), ROOT / reference.rstrip("."))
            if not any(inside_repository(c) and c.exists() for c in candidates):
                outside.append(f"line {number}: {reference}")
        if re.search(r"(?<![\w-])(?:shared|seed)/(?:spec|research)\b", line):
            outside.append(f"line {number}: names the workspace's shared folder")
    assert outside == [], f"{page.relative_to(ROOT)}: " + "; ".join(outside)


def test_the_checks_catch_what_they_are_for(tmp_path: Path):
    """The extraction itself: a broken link, an outside path and a missing anchor are all seen."""
    page = tmp_path / "page.md"
    page.write_text("# A title\n\nSee [spec](../shared/spec/x.md), [here](#a-title), ![i](img.png) and\n"
                    "`[not a link](nowhere.md)`.\n\n[ref]: other.md#part\n<a href=\"x.html\">x</a>\n")
    assert links(page) == ["../shared/spec/x.md", "#a-title", "img.png", "other.md#part", "x.html"]
    assert "a-title" in anchors(page)
    assert slug("The `egress_check` (DLP) setting") == "the-egress_check-dlp-setting"
    assert CLIMBING.findall("read `../shared/spec/policy-model.md` or ../../x") == [
        "../shared/spec/policy-model.md", "../../x"]
