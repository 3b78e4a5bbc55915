"""Sanctions screening: debtor and creditor names against a sanctions list, agent and party
countries against an embargoed-countries set.

The list (entries of id, name, aliases, type individual/entity, optional country, source)
is loaded into a ``Screening`` by ``load_screening()`` (from ``SanctionsSettings``: environment
prefix ``PACSFLOW_SANCTIONS_``), once per process by its composition root, and handed to
``checks.run`` (the rule reads it from its ``Context``: there is no process-wide list here). ``PACSFLOW_SANCTIONS_LIST``
is a path to a JSON file or the JSON itself; unset, the bundled fictional demo list
(``data/sanctions_demo.json``) is used, and passing narratives name the list used. A list that cannot be
read or fails validation raises: screening fails closed, never passes unscreened.

List file format::

    {"name": "DEMO", "version": "2026-01",            # optional, shown in narratives
     "entries": [{"id": "DEMO-IND-0001", "name": "...", "aliases": ["..."],
                  "type": "individual" | "entity", "country": "ZZ", "source": "DEMO"}]}

(a bare JSON list of entries is accepted too). Ids, sources, name and version must be
short printable tokens (they go into narratives); names and aliases never do.

Matching, on names normalised by ``normalise`` (NFKD, accents stripped, casefolded, common
letters transliterated, punctuation removed, legal forms and honorifics dropped, runs of
initials joined) with their tokens sorted:

- exact: the sorted tokens equal those of the entry's name or an alias (score 100);
- token set: every token of one name appears in the other (``Ivan Petrov Trading`` and
  entry ``Ivan Petrov``), when the contained name has at least 2 tokens that are not
  ``GENERIC`` words (particles, "trading", "capital", "partners"...) and 8 letters (score
  100, as rapidfuzz's token_set_ratio gives);
- fuzzy: rapidfuzz ratio of the sorted-token forms, i.e. token_sort_ratio, at least
  ``reject_threshold`` (default 90), scored with ``process.extractOne(score_cutoff=...)``
  over precomputed forms. Only forms that can reach the threshold are scored: those whose
  length allows it (a bisected window of the forms sorted by length) and that share a
  trigram with one of D + 1 segments of the name (pigeonhole: D edits leave one segment
  intact). The filter is exact (it never drops a form the full scan would find).

Names shorter than ``min_fuzzy_length`` letters after normalisation (and list forms that
short) match exactly only: at that length one changed letter is a different name.

Decision: any match at or above the threshold rejects the transaction (RJCT). A payments
hub would hold potential matches for an analyst; pacsflow has no hold state, so there is a
single cut (tune ``reject_threshold``) and no "potential match" band that passes.

Reason code RR04 RegulatoryReason (ExternalStatusReason1Code): the transaction is refused
for a regulatory reason, which a sanctions or embargo hit is; it is the code schemes and
banks use for sanctions rejects and reveals nothing beyond "regulatory". BE01
InconsistentWithEndCustomer says the end customer's identification does not match the
account: a data-quality fault the sender would try to "correct", which is neither true
of a sanctions hit nor a message to send about one.

Narratives name the party role, the list entry id and source and the score, never the
customer's name or the entry's name (payment data stays out of logs and reports).
"""
from __future__ import annotations

import bisect
import itertools
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chalicelib.domain.models import CreditTransfer
from chalicelib.iso20022.errors import safe_text

from .settings import code_set
from .verdicts import Outcome, agents, fail, ok

__all__ = ["DEMO_LIST", "Entry", "Match", "SanctionsSettings", "Screening", "load_screening", "normalise",
           "problems", "screen"]

DEMO_LIST = Path(__file__).parent / "data" / "sanctions_demo.json"

_MAX_LISTED = 2             # problems named in one narrative (ids are long)
_MIN_CONTAINED_TOKENS = 2   # token-set match: the contained name has 2 distinctive tokens...
_MIN_CONTAINED_CHARS = 8    # ...and 8 letters
_MAX_SUBSET_TOKENS = 4      # entry-in-name lookups: entry forms of at most 4 tokens
_MAX_NAME_TOKENS = 12       # ...among the 12 longest distinct tokens of the name
_SCAN_BELOW = 256           # fuzzy: length windows this small are scanned, not filtered

# -- normalisation ------------------------------------------------------------------------

# Letters NFKD does not decompose (after casefold: ß is already "ss").
_TRANSLIT = {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
             "ı": "i", "ħ": "h", "ŀ": "l", "ĸ": "k", "ŧ": "t", "ŋ": "n", "ſ": "s", "ß": "ss"}
# Dots and apostrophes join ("S.A." -> "sa", "O'Neil" -> "oneil"); other punctuation splits.
_JOINERS = ".'’‘`´ʼ"
_TABLE = str.maketrans({**_TRANSLIT, **{c: None for c in _JOINERS}})
_SPLIT = re.compile(r"[\W_]+")

LEGAL_FORMS = frozenset("""
    ltd limited llc llp lp plc inc incorporated co company corp corporation
    gmbh mbh ag kg kgaa ohg ug ev sa sas sasu sarl srl spa sl bv nv cv vof
    ab as asa aps oy oyj kk pte pty sdn bhd jsc ojsc pjsc cjsc oao zao ooo pao ao
    fze fzco fzc wll lda ltda sro doo kft zrt nyrt
""".split())
HONORIFICS = frozenset("mr mrs ms miss mx dr prof sir dame madam mme mlle herr frau sr sra srta".split())
_NOISE = LEGAL_FORMS | HONORIFICS | {"and", "und", "et", "the"}
# Words that do not tell one party from another: a token-set match needs 2 other tokens
# ("Capital Partners" is not a match for every "... Capital Partners" on the list).
GENERIC = frozenset("""
    al el ul bin ibn bint abu de del della di da dos das du la le van von der den ter
    trading trade traders international intl global world worldwide general national united
    group holding holdings capital partners partner investment investments invest fund funds
    services service bank banking finance financial industries industrial industry enterprise
    enterprises management consulting solutions systems technology technologies tech import
    export shipping logistics marine maritime energy oil gas petroleum commercial development
    resources foundation association organisation organization new first
""".split())


def _tokens(text: str) -> list[str]:
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    tokens: list[str] = []
    initials: list[str] = []        # a run of single letters is joined: "j p morgan" -> "jp morgan"
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
    return kept or tokens           # a name made only of noise words keeps them


def normalise(text: str) -> str:
    """The comparable form of a name: ``"Müller-Lüdenscheidt GmbH"`` -> ``"muller ludenscheidt"``."""
    return " ".join(_tokens(text))


def _key(tokens: Iterable[str]) -> str:
    return " ".join(sorted(tokens))


def _letters(key: str) -> int:
    return len(key) - key.count(" ")


def _containable(tset: frozenset[str]) -> bool:
    """May match as a part of a longer name: 2+ distinctive tokens, 8+ letters."""
    return (sum(1 for t in tset if t not in GENERIC) >= _MIN_CONTAINED_TOKENS
            and sum(map(len, tset)) >= _MIN_CONTAINED_CHARS)


# -- the list -----------------------------------------------------------------------------

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_SAFE_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/()-]{0,63}")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    type: str = "entity"            # "individual" or "entity"
    country: str | None = None
    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    score: int                      # 0-100, floored
    kind: str                       # "exact", "token set" or "fuzzy"


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


class Screening:
    """A sanctions list, indexed for screening; build once per process and reuse.

    ``match(name)`` gives the best ``Match`` of one name, or None; ``screen(ct, screening)``
    what the sanctions rule finds in a whole credit transfer.
    """

    def __init__(self, entries: Iterable[Entry], *, reject_threshold: float = 90.0,
                 min_fuzzy_length: int = 4, embargoed_countries: Iterable[str] = (),
                 label: str = "unnamed list") -> None:
        from rapidfuzz import fuzz, process  # ~20 ms: paid by the first screening only

        self._extract_one, self._ratio = process.extractOne, fuzz.ratio
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.reject_threshold = float(reject_threshold)
        if not 0 < self.reject_threshold <= 100:
            raise ValueError("reject_threshold must be in (0, 100]")
        self.min_fuzzy_length = int(min_fuzzy_length)
        self.embargoed_countries = frozenset(c.strip().upper() for c in embargoed_countries if c.strip())
        self.label = label
        exact: dict[str, int] = {}
        by_tokenset: dict[frozenset[str], int] = {}
        postings: defaultdict[str, set[str]] = defaultdict(set)
        fuzzy: list[tuple[int, str, int]] = []
        for index, entry in enumerate(self.entries):
            for text in (entry.name, *entry.aliases):
                tokens = _tokens(text)
                key = _key(tokens)
                if not key or key in exact:
                    continue
                exact[key] = index
                letters = _letters(key)
                if letters < self.min_fuzzy_length:
                    continue        # short forms match exactly only
                fuzzy.append((len(key), key, index))
                tset = frozenset(tokens)
                for tok in tset:
                    postings[tok].add(key)
                if _containable(tset):
                    by_tokenset.setdefault(tset, index)   # may be found inside a longer name
        fuzzy.sort()
        self._exact = exact
        self._by_tokenset = by_tokenset
        self._postings = dict(postings)
        self._lengths = [n for n, _, _ in fuzzy]
        self._choices = [k for _, k, _ in fuzzy]
        self._owners = [i for _, _, i in fuzzy]
        # Trigram -> positions in _choices (ascending), for the pigeonhole filter (_fuzzy).
        grams: defaultdict[str, list[int]] = defaultdict(list)
        for position, key in enumerate(self._choices):
            for gram in {key[j:j + 3] for j in range(len(key) - 2)}:
                grams[gram].append(position)
        self._grams = dict(grams)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str | bytes, **options: Any) -> Screening:
        """From the list's JSON text (an object with ``entries``, or a bare list)."""
        data = json.loads(text)
        meta: dict[str, Any] = {}
        if isinstance(data, dict):
            meta, data = data, data.get("entries")
        if not isinstance(data, list):
            raise ValueError("sanctions list: expected a list of entries")
        name, version = _label(meta.get("name"), "name"), _label(meta.get("version"), "version")
        source = meta.get("source") or name or "unknown"
        entries = [_entry(raw, source, n) for n, raw in enumerate(data, 1)]
        if len({e.id for e in entries}) != len(entries):
            raise ValueError("sanctions list: entry ids are not unique")
        options.setdefault("label", " ".join(p for p in (name, version) if p) or "unnamed list")
        return cls(entries, **options)

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Screening:
        return cls.from_json(Path(path).read_bytes(), **options)

    @classmethod
    def load(cls, spec: str | None = None, **options: Any) -> Screening:
        """``spec`` is inline JSON (starts with ``{`` or ``[``) or a path; None: the demo list."""
        if spec is None or not spec.strip():
            return cls.from_file(DEMO_LIST, **options)
        text = spec.strip()
        if text[0] in "[{":
            return cls.from_json(text, **options)
        return cls.from_file(text, **options)

    @classmethod
    def from_settings(cls, settings: SanctionsSettings) -> Screening:
        return cls.load(settings.list_spec, reject_threshold=settings.reject_threshold,
                        min_fuzzy_length=settings.min_fuzzy_length,
                        embargoed_countries=settings.embargoed_countries)

    def __len__(self) -> int:
        return len(self.entries)

    # -- matching -----------------------------------------------------------------------

    def match(self, name: str | None) -> Match | None:
        """The best match of ``name`` on the list (exact, token set, then fuzzy), or None."""
        if not name:
            return None
        tokens = _tokens(name)
        key = _key(tokens)
        if not key:
            return None
        index = self._exact.get(key)
        if index is not None:
            return Match(self.entries[index], 100, "exact")
        if _letters(key) < self.min_fuzzy_length:
            return None
        index = self._contained(frozenset(tokens))
        if index is not None:
            return Match(self.entries[index], 100, "token set")
        return self._fuzzy(key)

    def _contained(self, tset: frozenset[str]) -> int | None:
        # An entry form whose tokens all appear in the name (the name has extra words).
        names = sorted(tset, key=len, reverse=True)[:_MAX_NAME_TOKENS]
        for size in range(_MIN_CONTAINED_TOKENS, min(len(names), _MAX_SUBSET_TOKENS) + 1):
            for combo in itertools.combinations(names, size):
                index = self._by_tokenset.get(frozenset(combo))
                if index is not None:
                    return index
        # The name's tokens all appear in an entry form (the name is a part of the entry's).
        if not _containable(tset):
            return None
        lists = []
        for tok in tset:
            keys = self._postings.get(tok)
            if keys is None:
                return None
            lists.append(keys)
        lists.sort(key=len)
        common = lists[0].intersection(*lists[1:])
        if common:
            return self._exact[min(common)]
        return None

    def _window(self, key: str) -> tuple[int, int]:
        """The positions of the forms whose length can reach the threshold: ratio is
        200 * LCS / (a + b) <= 200 * min(a, b) / (a + b), so b in [a t / (200 - t), a (200 - t) / t]."""
        t, a = self.reject_threshold, len(key)
        return (bisect.bisect_left(self._lengths, a * t / (200 - t) - 1e-6),
                bisect.bisect_right(self._lengths, a * (200 - t) / t + 1e-6))

    def _fuzzy(self, key: str) -> Match | None:
        """The best fuzzy match, scoring only the forms that can reach the threshold.

        Pigeonhole filter: a form within Indel distance D of ``key`` keeps at least one of
        D + 1 disjoint segments of ``key`` intact, so it holds that segment's rarest
        trigram. D is the largest distance the threshold allows for the longest form in
        the length window. Short keys (segments under 3 letters) scan the window.
        """
        lo, hi = self._window(key)
        if lo >= hi:
            return None
        t, a = self.reject_threshold, len(key)
        parts = int((1 - t / 100) * (a + self._lengths[hi - 1]) + 1e-6) + 1
        size = a // parts
        if size < 3 or hi - lo <= _SCAN_BELOW:
            return self._scan(key, lo, hi)
        grams, lists = self._grams, []
        for k in range(parts):
            start, end = k * size, (k + 1) * size if k < parts - 1 else a
            rarest = None
            for j in range(start, end - 2):
                found = grams.get(key[j:j + 3])
                if found is None:       # this segment is intact in no form
                    rarest = None
                    break
                if rarest is None or len(found) < len(rarest):
                    rarest = found
            if rarest:
                lists.append(rarest)
        if not lists:
            return None
        positions = sorted(p for p in set().union(*lists) if lo <= p < hi)
        if not positions:
            return None
        choices = self._choices
        best = self._extract_one(key, [choices[p] for p in positions], scorer=self._ratio,
                                 processor=None, score_cutoff=t)
        if best is None:
            return None
        return Match(self.entries[self._owners[positions[best[2]]]], int(best[1]), "fuzzy")

    def _scan(self, key: str, lo: int | None = None, hi: int | None = None) -> Match | None:
        """The best fuzzy match by scoring every form in the length window."""
        if lo is None or hi is None:
            lo, hi = self._window(key)
        if lo >= hi:
            return None
        found = self._extract_one(key, self._choices[lo:hi], scorer=self._ratio, processor=None,
                                  score_cutoff=self.reject_threshold)
        if found is None:
            return None
        return Match(self.entries[self._owners[lo + found[2]]], int(found[1]), "fuzzy")


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


def load_screening(settings: SanctionsSettings | None = None) -> Screening:
    """The screening of ``settings`` (default: read from the environment, PACSFLOW_SANCTIONS_*):
    the list loaded, validated and indexed. Costly (the list is read and indexed): call it
    once per process and pass the result to ``checks.run``. Raises if the list is unreadable."""
    return Screening.from_settings(settings if settings is not None else SanctionsSettings())


# -- the verdict --------------------------------------------------------------------------

def problems(ct: CreditTransfer, screening: Screening) -> tuple[list[str], int]:
    """(every hit as a narrative line, name hits first; number of names screened)."""
    txs = ct.transactions
    multi = len(txs) > 1
    hits: list[str] = []
    embargo: list[str] = []
    seen: dict[str, Match | None] = {}
    screened = 0
    embargoed = screening.embargoed_countries
    for i, tx in enumerate(txs):
        where = f"tx {i + 1}: " if multi else ""
        for party, name in (("debtor", tx.debtor_name), ("creditor", tx.creditor_name)):
            if name:
                screened += 1
                if name not in seen:
                    seen[name] = screening.match(name)
                hit = seen[name]
                if hit is not None:
                    hits.append(f"{where}{party} name matches sanctions list entry {hit.entry.id} "
                                f"({hit.entry.source}, {hit.kind}, score {hit.score})")
        if embargoed:
            roles: dict[str, list[str]] = {}
            for label, given in (("Dbtr", tx.debtor_country), ("Cdtr", tx.creditor_country)):
                country = (given or "").upper()
                if country in embargoed:
                    roles.setdefault(country, []).append(label)
            for label, ident, scheme in agents(tx):
                country = (ident or "")[4:6].upper()
                if scheme == "BICFI" and country in embargoed:
                    roles.setdefault(country, []).append(label)
            for country, labels in roles.items():
                embargo.append(f"{where}embargoed country {country} ({', '.join(labels)})")
    return hits + embargo, screened


def screen(ct: CreditTransfer, screening: Screening) -> Outcome:
    """What the ``sanctions_screening`` rule finds in a credit transfer (RR04 on a hit)."""
    found, screened = problems(ct, screening)
    if found:
        return fail(found, max_listed=_MAX_LISTED)
    what = (f"{screened} name(s) screened against {screening.label} ({len(screening)} entries, threshold "
            f"{screening.reject_threshold:g}): no match" if screened else "no debtor or creditor names to screen")
    if screening.embargoed_countries:
        what += f"; no embargoed country ({len(screening.embargoed_countries)} listed)"
    return ok(safe_text(what))
