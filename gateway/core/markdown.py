"""Text a tenant or a camera's vendor chose (a camera id, a site, a recipient), written into a
markdown document as itself: never a link, an image, emphasis, HTML, a table column or a line of
its own. The regulator's report and the record of processing are read rendered."""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be escaped with a backslash: these start links and images,
# emphasis, code, autolinks (`https:`, `www.`), strikethrough and table columns. `<`, `>` and `&`
# become entities instead, for renderers that pass HTML through.
_MARKUP = re.compile(r"([\\`*_\[\]()!|~:.#])")


def literal(value: object) -> str:
    """`value` as text in a table cell or a line: control and format characters (line breaks,
    direction marks) written as Python escapes them, markup characters escaped."""
    text = _MARKUP.sub(r"\\\1", html.escape(str(value), quote=False))
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
