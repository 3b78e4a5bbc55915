"""Sanctions names normalised for comparison (``normalise``), split into tokens and keyed.

Part of ``sanctions.py`` (see its docstring for the matching it serves); the names are
imported back there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_MIN_CONTAINED_TOKENS = 2  # token-set match: the contained name has 2 distinctive tokens...
_MIN_CONTAINED_CHARS = 8  # ...and 8 letters

# -- normalisation ------------------------------------------------------------------------

# Letters NFKD does not decompose (after casefold: ß is already "ss").
_TRANSLIT = {
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
    "ħ": "h",
    "ŀ": "l",
    "ĸ": "k",
    "ŧ": "t",
    "ŋ": "n",
    "ſ": "s",
    "ß": "ss",
}
# Dots and apostrophes join ("S.A." -> "sa", "O'Neil" -> "oneil"); other punctuation splits.
_JOINERS = ".'’‘`´ʼ"
_TABLE = str.maketrans({**_TRANSLIT, **dict.fromkeys(_JOINERS)})
_SPLIT = re.compile(r"[\W_]+")

LEGAL_FORMS = frozenset(
    [
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "inc",
        "incorporated",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "ug",
        "ev",
        "sa",
        "sas",
        "sasu",
        "sarl",
        "srl",
        "spa",
        "sl",
        "bv",
        "nv",
        "cv",
        "vof",
        "ab",
        "as",
        "asa",
        "aps",
        "oy",
        "oyj",
        "kk",
        "pte",
        "pty",
        "sdn",
        "bhd",
        "jsc",
        "ojsc",
        "pjsc",
        "cjsc",
        "oao",
        "zao",
        "ooo",
        "pao",
        "ao",
        "fze",
        "fzco",
        "fzc",
        "wll",
        "lda",
        "ltda",
        "sro",
        "doo",
        "kft",
        "zrt",
        "nyrt",
    ]
)
HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "madam",
        "mme",
        "mlle",
        "herr",
        "frau",
        "sr",
        "sra",
        "srta",
    ]
)
_NOISE = LEGAL_FORMS | HONORIFICS | {"and", "und", "et", "the"}
# Words that do not tell one party from another: a token-set match needs 2 other tokens
# ("Capital Partners" is not a match for every "... Capital Partners" on the list).
GENERIC = frozenset(
    [
        "al",
        "el",
        "ul",
        "bin",
        "ibn",
        "bint",
        "abu",
        "de",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "van",
        "von",
        "der",
        "den",
        "ter",
        "trading",
        "trade",
        "traders",
        "international",
        "intl",
        "global",
        "world",
        "worldwide",
        "general",
        "national",
        "united",
        "group",
        "holding",
        "holdings",
        "capital",
        "partners",
        "partner",
        "investment",
        "investments",
        "invest",
        "fund",
        "funds",
        "services",
        "service",
        "bank",
        "banking",
        "finance",
        "financial",
        "industries",
        "industrial",
        "industry",
        "enterprise",
        "enterprises",
        "management",
        "consulting",
        "solutions",
        "systems",
        "technology",
        "technologies",
        "tech",
        "import",
        "export",
        "shipping",
        "logistics",
        "marine",
        "maritime",
        "energy",
        "oil",
        "gas",
        "petroleum",
        "commercial",
        "development",
        "resources",
        "foundation",
        "association",
        "organisation",
        "organization",
        "new",
        "first",
    ]
)


def _tokens(text: str) -> list[str]:
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    tokens: list[str] = []
    initials: list[str] = []  # a run of single letters is joined: "j p morgan" -> "jp morgan"
    for tok in _SPLIT.split(text.casefold().translate(_TABLE)):
        if len(tok) == 1:
            initials.append(tok)
        elif tok:
            if initials:
                tokens.append("".join(initials))
                initials = []
            tokens.append(tok)
    if initials:
        tokens.append("".join(initials))
    kept = [t for t in tokens if t not in _NOISE]
    return kept or tokens  # a name made only of noise words keeps them


def normalise(text: str) -> str:
    """The comparable form of a name: ``"Müller-Lüdenscheidt GmbH"`` -> ``"muller ludenscheidt"``."""
    return " ".join(_tokens(text))


def _key(tokens: Iterable[str]) -> str:
    return " ".join(sorted(tokens))


def _letters(key: str) -> int:
    return len(key) - key.count(" ")


def _containable(tset: frozenset[str]) -> bool:
    """May match as a part of a longer name: 2+ distinctive tokens, 8+ letters."""
    return (
        sum(1 for t in tset if t not in GENERIC) >= _MIN_CONTAINED_TOKENS
        and sum(map(len, tset)) >= _MIN_CONTAINED_CHARS
    )
