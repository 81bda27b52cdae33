"""Every relative link in README.md and docs/*.md resolves: the file exists and, for ``#anchor``, the
target page has a heading whose GitHub slug is that anchor."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (links there are examples, not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        s = slug(heading)
        out.add(f"{s}-{seen[s]}" if s in seen else s)
        seen[s] = seen.get(s, 0) + 1
    return out


def broken_links(files) -> list[str]:
    bad = []
    for page in files:
        for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:: not checked offline
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT) if page.is_relative_to(ROOT) else page.name}: {target}"
            if not dest.exists():
                bad.append(f"{where} (no such file)")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                bad.append(f"{where} (no heading #{anchor})")
    return bad


def test_every_relative_link_and_anchor_resolves():
    assert broken_links(pages()) == []


def test_every_docs_page_is_in_the_index_and_the_readme():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not list {page.name}"
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("heading, expected", [
    ("Set-up: two commands", "set-up-two-commands"),
    ("Your own backbones: model files, weights files, options", "your-own-backbones-model-files-weights-files-options"),
    ("GPU: how to measure it (no GPU figures yet)", "gpu-how-to-measure-it-no-gpu-figures-yet"),
    ("This repository's CI", "this-repositorys-ci"),
    ("The `--shard` option", "the---shard-option"),
    ("Part 1: the default run (vgg16 + resnet50 + mobilenetv2, 224) — earlier host",
     "part-1-the-default-run-vgg16--resnet50--mobilenetv2-224--earlier-host"),
])
def test_slug_follows_github(heading, expected):
    assert slug(heading) == expected


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: with punctuation\n\n## Twice\n\n## Twice\n")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-section-with-punctuation) [ok](other.md#twice-1) ![ok](img/a.png)\n"
        "[ok](#title) [web](https://example.org/nothing#here) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "# Title\n"
        "[gone](missing.md) [bad anchor](other.md#no-such-section) [self](#nope) ![img](img/b.png)\n"
        "[twice too far](other.md#twice-2)\n")
    assert broken_links([page]) == [
        "page.md: missing.md (no such file)",
        "page.md: other.md#no-such-section (no heading #no-such-section)",
        "page.md: #nope (no heading #nope)",
        "page.md: img/b.png (no such file)",
        "page.md: other.md#twice-2 (no heading #twice-2)",
    ]
