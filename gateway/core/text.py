"""Text a tenant or a camera's vendor chose (a camera id, a site, a recipient), shown to people as
itself: on a terminal (`gateway/cli/console.py`) and in the markdown documents read rendered (the
regulator's report, the record of processing) — never a line of its own, a link, an image,
emphasis, HTML or a table column."""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be escaped with a backslash: these start links and images,
# emphasis, code, autolinks (`https:`, `www.`), strikethrough and table columns. `<`, `>` and `&`
# become entities instead, for renderers that pass HTML through.
_MARKUP = re.compile(r"([\\`*_\[\]()!|~:.#])")


def visible(value: object) -> str:
    """`value` with every character that is not printable (line breaks, terminal escapes,
    direction and other format marks) written as Python escapes it."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(value))


def literal(value: object) -> str:
    """`value` as text in a markdown table cell or line: unprintable characters as `visible`
    writes them, markup characters escaped."""
    return visible(_MARKUP.sub(r"\\\1", html.escape(str(value), quote=False)))
