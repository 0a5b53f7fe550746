"""The documents hold together: every relative link resolves, the README stays a front door, and
the docs index lists every page (CONTRIBUTING.md, "Documents").

Links are markdown ``[text](target)`` outside fenced code blocks and inline code. A target is a
file or folder relative to the linking file; ``#anchor`` (alone or after a ``.md`` file) must be a
heading of that file under GitHub's slug rule: lower case, punctuation other than hyphens and
spaces dropped, spaces to hyphens, a repeated heading suffixed ``-1``, ``-2``...

Example:
    >>> slug("`tts-maml train-baseline` and `tts-maml evaluate`")
    'tts-maml-train-baseline-and-tts-maml-evaluate'
    >>> slug("Why it stops at 0.68: no training speaker is near it")
    'why-it-stops-at-068-no-training-speaker-is-near-it'
"""

import os
import re
from pathlib import Path
from typing import Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+).+?\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def documents() -> List[Path]:
    """The markdown files whose links are checked."""
    paths = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md",
             ROOT / "recipes" / "README.md"]
    paths += sorted((ROOT / "docs").rglob("*.md"))
    paths += sorted((ROOT / "tts_maml" / "models").glob("*/MODEL_CARD.md"))
    return [p for p in paths if p.is_file()]


def prose_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """Every heading anchor of a markdown file, repeated headings numbered as GitHub numbers them."""
    seen: Set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        anchor, n = base, 0
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
    return seen


def links(path: Path) -> Iterator[Tuple[int, str]]:
    """(line number, target) of every link of a markdown file, outside code."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            yield number, match.group(1)


def broken_links(path: Path) -> List[str]:
    """The relative links of ``path`` that name no file, folder or heading, each with its line."""
    problems = []
    for number, target in links(path):
        if re.match(r"^(https?:|mailto:)", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where} (no such file or folder: {os.path.relpath(dest, ROOT)})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where} (no heading #{anchor} in {dest.relative_to(ROOT)})")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    problems = broken_links(path)
    assert not problems, "broken links in " + str(path.relative_to(ROOT)) + ":\n" + "\n".join(problems)


def test_readme_is_a_front_door() -> None:
    count = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert count <= README_MAX_LINES, (
        f"README.md has {count} lines, more than {README_MAX_LINES}: move reference material to docs/")


def test_docs_index_lists_every_page() -> None:
    index = ROOT / "docs" / "README.md"
    listed = {(index.parent / target.partition("#")[0]).resolve() for _, target in links(index)}
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md"))
               if p != index and p.resolve() not in listed]
    assert not missing, f"docs/README.md does not link to: {', '.join(missing)}"


def test_slug_follows_github() -> None:
    assert slug("Meta-training in Coqui's Trainer") == "meta-training-in-coquis-trainer"
    assert slug("`make demo`") == "make-demo"
    assert slug("Every weight, with the vocoder fitted") == "every-weight-with-the-vocoder-fitted"
