"""The sanctions list's entries, read and validated, and the screening's settings.

Part of ``sanctions.py`` (see its docstring for the list file format); the names are
imported back there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .settings import code_set

DEMO_LIST = Path(__file__).parent / "data" / "sanctions_demo.json"

# -- the list -----------------------------------------------------------------------------

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_SAFE_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/()-]{0,63}")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    type: str = "entity"  # "individual" or "entity"
    country: str | None = None
    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    score: int  # 0-100, floored
    kind: str  # "exact", "token set" or "fuzzy"


def _entry(raw: Any, default_source: str, n: int) -> Entry:
    if not isinstance(raw, dict):
        raise ValueError(f"sanctions list entry {n} is not an object")
    ident, name = raw.get("id"), raw.get("name")
    if not isinstance(ident, str) or not _SAFE_ID.fullmatch(ident):
        raise ValueError(f"sanctions list entry {n}: id missing or not a short printable token")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"sanctions list entry {ident}: name missing")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"sanctions list entry {ident}: aliases must be a list of strings")
    kind = raw.get("type", "entity")
    if kind not in ("individual", "entity"):
        raise ValueError(f"sanctions list entry {ident}: type must be individual or entity")
    country = raw.get("country")
    if country is not None and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
        raise ValueError(f"sanctions list entry {ident}: country must be ISO 3166 alpha-2")
    source = raw.get("source", default_source)
    if not isinstance(source, str) or not _SAFE_ID.fullmatch(source):
        raise ValueError(f"sanctions list entry {ident}: source not a short printable token")
    return Entry(ident, name, tuple(a for a in aliases if a.strip()), kind, country, source)


def _label(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SAFE_LABEL.fullmatch(value):
        raise ValueError(f"sanctions list {what} is not a short printable label")
    return value


# -- settings and the process's screening -------------------------------------------------

CodeSet = Annotated[frozenset[str], NoDecode]


class SanctionsSettings(BaseSettings):
    """Environment prefix PACSFLOW_SANCTIONS_."""

    model_config = SettingsConfigDict(env_prefix="PACSFLOW_SANCTIONS_", frozen=True, populate_by_name=True)

    # PACSFLOW_SANCTIONS_LIST: a path to the list's JSON, or the JSON itself (small lists:
    # Lambda environment variables total 4 KB). Unset: the bundled fictional demo list.
    list_spec: str | None = Field(default=None, validation_alias="PACSFLOW_SANCTIONS_LIST")
    # Score (0-100) at or above which a name match rejects.
    reject_threshold: float = Field(default=90.0, ge=50, le=100)
    # Names (and list forms) with fewer letters after normalisation match exactly only.
    min_fuzzy_length: int = Field(default=4, ge=1)
    # ISO 3166 alpha-2 codes: a party's PstlAdr/Ctry or an agent BIC's country among them
    # rejects. JSON list or comma-separated; empty by default.
    embargoed_countries: CodeSet = frozenset()

    @field_validator("embargoed_countries", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return code_set(value)

    @field_validator("embargoed_countries")
    @classmethod
    def _countries(cls, value: frozenset[str]) -> frozenset[str]:
        codes = frozenset(v.strip().upper() for v in value)
        bad = [c for c in codes if not re.fullmatch(r"[A-Z]{2}", c)]
        if bad:
            raise ValueError("embargoed_countries: ISO 3166 alpha-2 codes expected")
        return codes
