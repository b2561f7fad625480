"""Untrusted text inside the tool's own messages: capped in length and made inert for a terminal.

File names, archive member names and exception texts come from other people's machines: one can be
gigabytes long (a tar long-name header) or carry ESC/OSC sequences that repaint, retitle or hyperlink a
terminal. Every warning and error that quotes such text builds it with `quote` / `shorten`, and the CLI
prints through `terminal`; Markdown's filters use `visible_controls` too.
"""

from __future__ import annotations

import re

MAX_QUOTED = 200  # characters of one untrusted name or text inside a message
MAX_MESSAGE = 2000  # characters of one whole warning or error line

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _picture(m: re.Match) -> str:
    c = ord(m.group(0))
    if c < 0x20:
        return chr(0x2400 + c)  # ␛ for ESC, ␊ for LF: visible, never interpreted
    return "␡" if c == 0x7F else "�"


def visible_controls(text: str, keep_tabs: bool = False) -> str:
    """Control characters (newline, ESC, BEL, C1, bidi overrides) shown as harmless symbols."""
    return (_CONTROLS_BUT_TAB if keep_tabs else _CONTROLS).sub(_picture, text)


def shorten(text: object, limit: int = MAX_QUOTED) -> str:
    """At most `limit` characters, saying how many were left out."""
    s = str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… ({len(s) - limit} more characters)"


def quote(text: object, limit: int = MAX_QUOTED) -> str:
    """An untrusted name inside a message: quoted, capped, controls made visible."""
    return "'" + visible_controls(shorten(text, limit)) + "'"


def terminal(text: object) -> str:
    """One message line safe to print: capped at MAX_MESSAGE, no control character reaches the terminal."""
    return visible_controls(shorten(text, MAX_MESSAGE))
