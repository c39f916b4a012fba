"""One spelling per operator name, so that ``Alice``, ``alice`` and ``bob\\u200b`` cannot pass
for different people.

A name is NFKC-normalised and case-folded (then normalised again, since case folding can undo
NFKC). Control, format (zero-width spaces and joiners, bidirectional marks), private-use,
surrogate and unassigned characters are refused, as is any whitespace but a single inner space.
"""

from __future__ import annotations

import unicodedata

from corpactions.errors import OperatorError

MAX_NAME = 64
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def normalise_name(raw: str) -> str:
    """The name as the registry stores and compares it; ``OperatorError`` if unacceptable."""
    for char in raw:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Zs" and char != " "):
            raise OperatorError(
                f"operator name {raw!r} contains the invisible or control character "
                f"U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')})",
                hint="type the name with visible letters, digits and single spaces only",
            )
    name = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())
    if name != name.strip() or "  " in name:
        raise OperatorError(
            f"operator name {raw!r} has leading, trailing or repeated spaces",
            hint="write the name without surrounding or double spaces",
        )
    if not name:
        raise OperatorError("an operator name must not be empty", hint="give the person's name")
    if len(name) > MAX_NAME:
        raise OperatorError(
            f"operator name {raw!r} is longer than {MAX_NAME} characters",
            hint="use a shorter name",
        )
    return name
