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

    {
        "name": "DEMO",
        "version": "2026-01",  # optional, shown in narratives
        "entries": [
            {
                "id": "DEMO-IND-0001",
                "name": "...",
                "aliases": ["..."],
                "type": "individual" | "entity",
                "country": "ZZ",
                "source": "DEMO",
            }
        ],
    }

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

from chalicelib.domain.models import CreditTransfer
from chalicelib.iso20022.errors import safe_text

from .sanctions_index import Screening
from .sanctions_list import DEMO_LIST, Entry, Match, SanctionsSettings
from .sanctions_names import GENERIC as GENERIC
from .sanctions_names import HONORIFICS as HONORIFICS
from .sanctions_names import LEGAL_FORMS as LEGAL_FORMS
from .sanctions_names import _key as _key
from .sanctions_names import _tokens as _tokens
from .sanctions_names import normalise
from .verdicts import Outcome, agents, fail, ok

__all__ = [
    "DEMO_LIST",
    "Entry",
    "Match",
    "SanctionsSettings",
    "Screening",
    "load_screening",
    "normalise",
    "problems",
    "screen",
]

_MAX_LISTED = 2  # problems named in one narrative (ids are long)


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
                    hits.append(
                        f"{where}{party} name matches sanctions list entry {hit.entry.id} "
                        f"({hit.entry.source}, {hit.kind}, score {hit.score})"
                    )
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
    what = (
        f"{screened} name(s) screened against {screening.label} ({len(screening)} entries, threshold "
        f"{screening.reject_threshold:g}): no match"
        if screened
        else "no debtor or creditor names to screen"
    )
    if screening.embargoed_countries:
        what += f"; no embargoed country ({len(screening.embargoed_countries)} listed)"
    return ok(safe_text(what))
