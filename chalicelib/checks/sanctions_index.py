"""The sanctions list indexed for screening: ``Screening`` (exact, token set, fuzzy).

Part of ``sanctions.py`` (see its docstring for the matching); imported back there.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .sanctions_list import DEMO_LIST, Entry, Match, SanctionsSettings, _entry, _label
from .sanctions_names import _MIN_CONTAINED_TOKENS, _containable, _key, _letters, _tokens

_MAX_SUBSET_TOKENS = 4  # entry-in-name lookups: entry forms of at most 4 tokens
_MAX_NAME_TOKENS = 12  # ...among the 12 longest distinct tokens of the name
_SCAN_BELOW = 256  # fuzzy: length windows this small are scanned, not filtered


class Screening:
    """A sanctions list, indexed for screening; build once per process and reuse.

    ``match(name)`` gives the best ``Match`` of one name, or None; ``screen(ct, screening)``
    what the sanctions rule finds in a whole credit transfer.
    """

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        reject_threshold: float = 90.0,
        min_fuzzy_length: int = 4,
        embargoed_countries: Iterable[str] = (),
        label: str = "unnamed list",
    ) -> None:
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
                    continue  # short forms match exactly only
                fuzzy.append((len(key), key, index))
                tset = frozenset(tokens)
                for tok in tset:
                    postings[tok].add(key)
                if _containable(tset):
                    by_tokenset.setdefault(tset, index)  # may be found inside a longer name
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
            for gram in {key[j : j + 3] for j in range(len(key) - 2)}:
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
        return cls.load(
            settings.list_spec,
            reject_threshold=settings.reject_threshold,
            min_fuzzy_length=settings.min_fuzzy_length,
            embargoed_countries=settings.embargoed_countries,
        )

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
        return (
            bisect.bisect_left(self._lengths, a * t / (200 - t) - 1e-6),
            bisect.bisect_right(self._lengths, a * (200 - t) / t + 1e-6),
        )

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
                found = grams.get(key[j : j + 3])
                if found is None:  # this segment is intact in no form
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
        best = self._extract_one(
            key, [choices[p] for p in positions], scorer=self._ratio, processor=None, score_cutoff=t
        )
        if best is None:
            return None
        return Match(self.entries[self._owners[positions[best[2]]]], int(best[1]), "fuzzy")

    def _scan(self, key: str, lo: int | None = None, hi: int | None = None) -> Match | None:
        """The best fuzzy match by scoring every form in the length window."""
        if lo is None or hi is None:
            lo, hi = self._window(key)
        if lo >= hi:
            return None
        found = self._extract_one(
            key, self._choices[lo:hi], scorer=self._ratio, processor=None, score_cutoff=self.reject_threshold
        )
        if found is None:
            return None
        return Match(self.entries[self._owners[lo + found[2]]], int(found[1]), "fuzzy")
