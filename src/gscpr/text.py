"""Text of user-facing messages: a count with its noun in the right number."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and ``noun`` in the number ``n`` asks for: ``"1 query"``, ``"0 queries"``, ``"3 views"``.

    The plural is ``nouns`` when given (irregular ones: ``plural(n, "vertex", "vertices")``); otherwise English's
    regular rule: a consonant and ``y`` become ``ies`` (query, entry), ``s``, ``x``, ``z``, ``ch`` and ``sh`` take
    ``es`` (pass, match), anything else takes ``s``. Only exactly 1 (or -1) is singular, as in English.
    """
    if abs(n) == 1:
        return f"{n} {noun}"
    if nouns is None:
        if noun.endswith("y") and noun[-2:-1] not in ("", *"aeiou"):
            nouns = noun[:-1] + "ies"
        elif noun.endswith(("s", "x", "z", "ch", "sh")):
            nouns = noun + "es"
        else:
            nouns = noun + "s"
    return f"{n} {nouns}"
