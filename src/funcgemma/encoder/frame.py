"""A request's frame: the request with the text it dictates left out.

"note: call the insurer about the windshield" asks for a note; a sentence encoder reads
it mostly as what the note says (insurance, cars), so it lands far from the function's
other examples ("save a note: pick up the dry cleaning"). The frame replaces the dictated
part with "…": every quotation (funcgemma.repair.quotes, the one quotation reader) and
what follows a colon after a short head ("post to insta: best ramen ever" -> "post to
insta: …"). A time (6:30) or an address (https://...) is no colon of that kind. The
encoder reads a text with a frame as its own row blended with the frame's, or the
frame's alone (Policy.frame; experiments/hybrid-31, sixth rule).
"""

from __future__ import annotations

import regex

from ..repair.quotes import quotations

FRAMES = ("off", "blend", "replace")
PLACEHOLDER = "…"
# a head of one to eight words (or up to 24 characters of unspaced script), a colon that
# is not inside a time or an address, and a tail of two words or more (three characters of
# unspaced script)
_COLON = regex.compile(
    r"^(?P<head>(?:[^\s:：]+\s+){0,7}[^\s:：]+|[^\s:：]{1,24})\s*(?:(?<!\d):(?!//)\s+|：)"
    r"\s*(?P<tail>\S+\s+\S.*|[^\s\p{Latin}]{3,}.*)$", regex.DOTALL)


def frame(text: str) -> str | None:
    """``text`` with its dictated part as "…", or None when it dictates nothing."""
    out = text
    for quoted in sorted(set(quotations(text)), key=len, reverse=True):
        out = out.replace(quoted, PLACEHOLDER)
    m = _COLON.match(out.strip())
    if m and m.group("tail").strip() != PLACEHOLDER:
        full_width = "：" in out[m.end("head"):m.start("tail")]
        out = m.group("head") + ("：" if full_width else ": ") + PLACEHOLDER
    return out if out != text else None
