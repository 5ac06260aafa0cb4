"""Markdown as GitHub renders it: the anchors its headings get."""

from __future__ import annotations

import re
from collections import Counter


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them: lower case, punctuation dropped,
    spaces as hyphens, a repeated one suffixed -1, -2, ... (headings inside code blocks are none)."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6} +(.+?) *#* *$", line)
        if fenced or heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found
