"""Text read from files, made safe to print. An output folder is untrusted: a claim id, a reason, a note or a device
name in it can hold terminal escape sequences (OSC 52 writes the clipboard, others retitle the window or move the
cursor), line breaks that forge output lines, bidi overrides that reorder what is shown, or rich markup ("[bold]",
"[/red]", ":emoji:") that would restyle the output or stop it with a MarkupError. Every place that prints such text
goes through here:

- ``plain(x)``: the text with every control character (C0, DEL, C1, line and paragraph separators, bidi controls)
  written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``);
- ``cell(x, style)``: ``plain(x)`` as a rich ``Text``, which rich never parses for markup or emoji codes.
"""
from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def plain(x) -> str:
    """``str(x)`` with control characters shown as escapes, so that printing it cannot drive the terminal."""
    return _UNSAFE.sub(_escape, str(x))


def cell(x, style: str = ""):
    """``plain(x)`` as a rich Text: printed literally (no markup, no emoji codes), optionally styled."""
    from rich.text import Text

    return Text(plain(x), style=style)
