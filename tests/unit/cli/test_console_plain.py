"""What a record carries is printed as itself: no forged lines, no markup, no reversed text."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from gateway.cli.console import plain


def test_control_and_direction_characters_are_escaped_and_markup_is_shown_as_written() -> None:
    shown = Console(file=io.StringIO(), width=300, color_system=None)
    shown.print(
        plain("cam-9\np0 #41 11:00:00 beta lobby FORWARDED [/bold] \u202eoforp \u200f\u061c \x1b[2J"), highlight=False
    )
    out = shown.file.getvalue()  # type: ignore[attr-defined]
    assert out == "cam-9\\np0 #41 11:00:00 beta lobby FORWARDED [/bold] \\u202eoforp \\u200f\\u061c \\x1b[2J\n"


def test_plain_text_is_unchanged() -> None:
    text = f"acme lobby-1 {datetime(2026, 12, 5, tzinfo=UTC):%H:%M:%S} R01 R02"
    assert plain(text) == text
