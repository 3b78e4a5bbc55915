"""Sanctions screening: normalisation, matching, the verdict, the list and its settings.

Every name here, on the bundled demo list or generated, is fictional.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from rapidfuzz import fuzz

from chalicelib import checks
from chalicelib.checks import CheckSettings, rules, sanctions
from chalicelib.checks.sanctions import SanctionsSettings, Screening, load_screening, normalise
from chalicelib.domain.models import CreditTransfer, Verdict
from chalicelib.iso20022 import read_credit_transfer

EVENTS = Path(__file__).resolve().parents[2] / "events"
BAH = read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())
TWO = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
DEMO = Screening.load()


def ct(base: CreditTransfer = BAH, tx: dict | None = None, index: int = 0, **top) -> CreditTransfer:
    """``base`` with group-level changes ``top``; ``tx`` changes transaction ``index``."""
    txs = list(base.transactions)
    if tx:
        txs[index] = replace(txs[index], **tx)
    return replace(base, transactions=tuple(txs), **top)


def names(debtor=None, creditor=None, base=BAH):
    return ct(base, tx={"debtor_name": debtor, "creditor_name": creditor})


def only(data, screening=DEMO):
    """The sanctions_screening verdict of ``data``, as ``checks.run`` gives it."""
    verdicts = [
        v
        for v in checks.run(data, CheckSettings(), screening=screening, today=date(2026, 4, 15))
        if v.rule == "sanctions_screening"
    ]
    assert len(verdicts) == 1
    assert (
        rules.sanctions_screening(data, rules.Context(data, CheckSettings(), date(2026, 4, 15), screening))
        == verdicts[0]
    )
    return verdicts[0]


def assert_no_names(narrative: str, *texts: str) -> None:
    """No token of any given name (customer's or list entry's) shows in the narrative."""
    words = set(normalise(narrative).split())
    for text in texts:
        for token in normalise(text).split():
            if len(token) > 2:
                assert token not in words, (token, narrative)
        assert text.casefold() not in narrative.casefold()


def entry_texts(entry_id: str, screening=DEMO) -> list[str]:
    entry = next(e for e in screening.entries if e.id == entry_id)
    return [entry.name, *entry.aliases]


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Müller-Lüdenscheidt GmbH", "muller ludenscheidt"),
        ("MULLER LUDENSCHEIDT", "muller ludenscheidt"),
        ("Straßenfeld", "strassenfeld"),
        ("Øvrebergholm Ærnsgaard Wrzęsławski Þórvald", "ovrebergholm aernsgaard wrzeslawski thorvald"),
        ("Nordvæst Quillonbridge Shipping Co., Ltd.", "nordvaest quillonbridge shipping"),
        ("Kessarine Capital Partners S.A.", "kessarine capital partners"),
        ("Mr. Zorvath  KELMENDRIX", "zorvath kelmendrix"),
        ("Dr. O'Quell", "oquell"),
        ("J. P. Velmoranth & Co", "jp velmoranth"),
        ("Q.Y.X. Holdings Ltd", "qyx holdings"),
        ("Limited Company", "limited company"),  # only noise words: kept
        ("  ", ""),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


# -- matching -----------------------------------------------------------------------------


def test_the_events_and_their_names_pass():
    for data in (BAH, TWO):
        v = only(data)
        assert v == Verdict(rule="sanctions_screening", passed=True, reason_code=None, narrative=v.narrative)
        assert "no match" in v.narrative and "DEMO 2026-01" in v.narrative
        assert_no_names(v.narrative, "Muster Maschinenbau GmbH", "Exemple Distribution SARL")


def test_exact_hit_rejects_with_rr04():
    v = only(names(creditor="Zorvath Kelmendrix"))
    assert (v.rule, v.passed, v.reason_code) == ("sanctions_screening", False, "RR04")
    assert v.narrative == "creditor name matches sanctions list entry DEMO-IND-0001 (DEMO, exact, score 100)"
    assert v == checks.verdict("sanctions_screening", False, "RR04", v.narrative)


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("Nordvaest Quillonbridge Shipping Limited", "DEMO-ENT-0002"),  # æ -> ae
        ("NORDVAST QUILLONBRIDGE SHIPPING", "DEMO-ENT-0002"),  # æ dropped: fuzzy
        ("Strassenfeld Velmoranth Trading", "DEMO-ENT-0003"),  # ß -> ss
        ("Oskar Wrzeslawski-Thornquist", "DEMO-IND-0003"),  # ę, ł
        ("Thorvald Aernsgaard Vellichor", "DEMO-IND-0004"),  # Þ, ó, Æ
        ("Kessarine Ovrebergholm Capital Partners", "DEMO-ENT-0005"),  # Ø
        ("Ysolde Brannasvik-Quell", "DEMO-IND-0002"),  # å
    ],
)
def test_accented_and_transliterated_names_hit(name, entry):
    v = only(names(debtor=name))
    assert not v.passed and v.reason_code == "RR04"
    assert f"debtor name matches sanctions list entry {entry} " in v.narrative
    assert_no_names(v.narrative, name, *entry_texts(entry))


@pytest.mark.parametrize(
    "name",
    ["KELMENDRIX Zorvath", "Kelmendrix, Zorvath", "Ishkanova Marguerite Vantorrel", "Vantorrel, ISHKANOVA Marguerite"],
)
def test_reordered_tokens_hit(name):
    v = only(names(creditor=name))
    assert not v.passed and "exact, score 100" in v.narrative


@pytest.mark.parametrize(
    "name",
    [
        "Gruvelstad Lummerich Handels AG",
        "GRÜVELSTAD-LÜMMERICH HANDELS LIMITED",
        "Gruvelstad Lummerich Handels Company",
        "The Gruvelstad & Lummerich Handels Inc.",
    ],
)
def test_legal_form_noise_is_ignored(name):
    v = only(names(creditor=name))
    assert not v.passed and "DEMO-ENT-0001" in v.narrative


def test_fuzzy_hit_scores_below_100():
    match = DEMO.match("Zorvath Kelmendrixx")
    assert match is not None and match.kind == "fuzzy" and 90 <= match.score < 100
    assert match.entry.id == "DEMO-IND-0001"
    v = only(names(creditor="Zorvath Kelmendrixx"))
    assert v.narrative.endswith(f"(DEMO, fuzzy, score {match.score})")


def test_near_miss_below_the_threshold_passes_and_the_threshold_is_configurable():
    near = "Zorvath Kelmendorf"
    assert 85 <= fuzz.token_sort_ratio(normalise(near), "zorvath kelmendrix") < 90
    assert only(names(creditor=near)).passed
    lower = Screening.load(reject_threshold=85)
    v = only(names(creditor=near), lower)
    assert not v.passed and "DEMO-IND-0001 (DEMO, fuzzy, score 88)" in v.narrative


def test_short_names_need_an_exact_match():
    assert DEMO.match("Qyx").kind == "exact" and DEMO.match("Q.Y.X.").kind == "exact"
    assert DEMO.match("QYX Holdings") is not None  # an alias
    loose = Screening.load(reject_threshold=60)
    assert fuzz.ratio("qyz", "qyx") >= 60
    assert loose.match("Qyz") is None  # 3 letters: exact only
    assert loose.match("Qyx") is not None
    # A short list form is not fuzzy-matched by a longer name either.
    short = Screening.from_json('[{"id": "T-1", "name": "Abc"}]', reject_threshold=80)
    assert fuzz.ratio("abcd", "abc") >= 80
    assert short.match("Abcd") is None and short.match("ABC Ltd") is not None
    # The guard length is configurable.
    assert Screening.load(reject_threshold=60, min_fuzzy_length=3).match("Qyz") is not None


def test_token_set_matches_need_two_distinctive_tokens():
    assert DEMO.match("Oskar Wrzeslawski").kind == "token set"  # part of the entry's name
    assert DEMO.match("Strassenfeld Velmoranth Trading International").kind == "token set"  # extra words
    assert DEMO.match("Zorvath") is None  # one token
    assert DEMO.match("Capital Partners LLC") is None  # generic words only
    assert DEMO.match("Velmoranth Trading") is None  # one distinctive token


def test_every_transaction_is_screened():
    data = ct(TWO, tx={"creditor_name": "Marguerite Vantorrel Ishkanova"}, index=1)
    v = only(data)
    assert not v.passed
    assert v.narrative == "tx 2: creditor name matches sanctions list entry DEMO-IND-0005 (DEMO, exact, score 100)"
    data = ct(data, tx={"debtor_name": "Ubrixa Tellurance Minerals"})
    v = only(data)
    assert v.narrative.startswith("tx 1: debtor name matches sanctions list entry DEMO-ENT-0006 (DEMO-EMB, exact")
    assert "; tx 2: creditor name" in v.narrative
    assert "4 name(s) screened" in only(TWO).narrative


def test_more_hits_than_listed_are_counted():
    data = ct(TWO, tx={"debtor_name": "Qyx", "creditor_name": "Zorvath Kelmendrix"})
    data = ct(data, tx={"debtor_name": "Qyx", "creditor_name": "Oskar Wrzeslawski"}, index=1)
    v = only(data)
    assert v.narrative.endswith("; and 2 more") and len(v.narrative) <= 200


def test_no_names_passes():
    v = only(names(None, None))
    assert v.passed and v.narrative == "no debtor or creditor names to screen"
    v = only(replace(BAH, transactions=()))
    assert v.passed


def test_a_dict_without_transaction_details_screens_the_top_level():
    old = {
        "message_type": "pacs.008.001.08",
        "msg_id": "M",
        "creation_date_time": "2026-04-15T10:00:00Z",
        "nb_of_txs": "1",
        "creditor_name": "Zorvath Kelmendrix",
        "transactions": [{"instr_id": "A"}],
    }
    v = only(CreditTransfer.from_stored(old))
    assert not v.passed and v.narrative.startswith("creditor name matches")


def test_narratives_carry_no_names():
    cases = [
        ("Zorvath Kelmendrix", "DEMO-IND-0001"),
        ("KELMENDRIX Zorvath Ulbrecht", "DEMO-IND-0001"),
        ("Zorvath Kelmendrixx", "DEMO-IND-0001"),
        ("Gruvelstad Lummerich Handels AG", "DEMO-ENT-0001"),
        ("Oskar Wrzeslawski", "DEMO-IND-0003"),
        ("Q.Y.X.", "DEMO-ENT-0004"),
    ]
    for name, entry in cases:
        for party in ("debtor", "creditor"):
            v = only(names(**{party: name}))
            assert not v.passed and entry in v.narrative, (name, v)
            assert_no_names(v.narrative, name, *entry_texts(entry))


# -- embargoed countries ------------------------------------------------------------------


def test_embargoed_countries_of_agents_and_parties():
    assert only(BAH).passed  # no set configured: countries are not checked
    fr = Screening.load(embargoed_countries=["fr"])
    v = only(BAH, fr)
    assert (v.passed, v.reason_code) == (False, "RR04")
    assert v.narrative == "embargoed country FR (Cdtr, InstdAgt, CdtrAgt)"
    de = Screening.load(embargoed_countries=["DE"])
    assert only(BAH, de).narrative == "embargoed country DE (Dbtr, InstgAgt, DbtrAgt)"
    assert only(TWO, de).narrative == (
        "tx 1: embargoed country DE (Dbtr, InstgAgt, DbtrAgt); tx 2: embargoed country DE (Dbtr, InstgAgt, DbtrAgt)"
    )
    both = Screening.load(embargoed_countries=["DE", "FR"])
    v = only(ct(tx={"creditor_name": "Qyx"}), both)
    assert v.narrative == (
        "creditor name matches sanctions list entry DEMO-ENT-0004 (DEMO, exact, score 100); "
        "embargoed country DE (Dbtr, InstgAgt, DbtrAgt); and 1 more"
    )
    # Agents identified otherwise than by BIC have no country to check.
    data = ct(tx={"debtor_country": None, "instructing_agent_scheme": "LEI", "debtor_agent_scheme": "LEI"})
    v = only(data, de)
    assert v.passed and "no embargoed country (1 listed)" in v.narrative


# -- the list and the settings ------------------------------------------------------------


def test_the_demo_list_is_the_default_and_the_screening_is_what_the_run_is_given(monkeypatch):
    monkeypatch.delenv("PACSFLOW_SANCTIONS_LIST", raising=False)
    first = load_screening()
    assert first.label == "DEMO 2026-01" and len(first) == len(DEMO)
    assert not only(names(creditor="Zorvath Kelmendrix"), first).passed
    assert not hasattr(sanctions, "default_screening")  # no process-wide list in checks
    own = load_screening(SanctionsSettings(PACSFLOW_SANCTIONS_LIST='[{"id": "T-1", "name": "Halvard Emberquist"}]'))
    assert len(own) == 1 and only(names(creditor="Zorvath Kelmendrix"), own).passed


def test_the_list_from_the_environment_inline_or_a_path(monkeypatch, tmp_path):
    inline = json.dumps(
        {"name": "TEST", "entries": [{"id": "T-1", "name": "Halvard Emberquist", "type": "individual"}]}
    )
    monkeypatch.setenv("PACSFLOW_SANCTIONS_LIST", inline)
    monkeypatch.setenv("PACSFLOW_SANCTIONS_REJECT_THRESHOLD", "95")
    monkeypatch.setenv("PACSFLOW_SANCTIONS_EMBARGOED_COUNTRIES", "zz, xx")
    s = load_screening()
    assert (s.label, len(s), s.reject_threshold, s.embargoed_countries) == ("TEST", 1, 95.0, {"ZZ", "XX"})
    assert s.match("Emberquist Halvard").entry.id == "T-1" and s.match("Zorvath Kelmendrix") is None
    path = tmp_path / "list.json"
    path.write_text(inline)
    monkeypatch.setenv("PACSFLOW_SANCTIONS_LIST", str(path))
    monkeypatch.setenv("PACSFLOW_SANCTIONS_EMBARGOED_COUNTRIES", '["ZZ"]')
    s = Screening.from_settings(SanctionsSettings())
    assert s.match("Halvard Emberquist").entry.source == "TEST" and s.embargoed_countries == {"ZZ"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "Expecting"),
        ('{"entries": {}}', "list of entries"),
        ('[{"id": "A 1; drop", "name": "X Y"}]', "id"),
        ('[{"id": "A-1"}]', "name missing"),
        ('[{"id": "A-1", "name": "X Y", "type": "ship"}]', "type"),
        ('[{"id": "A-1", "name": "X Y", "aliases": "Z"}]', "aliases"),
        ('[{"id": "A-1", "name": "X Y", "country": "Utopia"}]', "country"),
        ('[{"id": "A-1", "name": "X Y"}, {"id": "A-1", "name": "Z W"}]', "unique"),
        ('{"name": "A name; with <html>", "entries": []}', "label"),
    ],
)
def test_a_bad_list_fails_closed(text, why):
    with pytest.raises(ValueError, match=why):
        Screening.from_json(text)


def test_bad_settings_are_refused(monkeypatch):
    with pytest.raises(ValidationError):
        SanctionsSettings(embargoed_countries=["IRN"])
    with pytest.raises(ValidationError):
        SanctionsSettings(reject_threshold=30)
    with pytest.raises(ValueError):
        Screening([], reject_threshold=0)
    with pytest.raises(FileNotFoundError):
        Screening.load("no/such/list.json")


def test_the_demo_list_is_well_formed():
    data = json.loads(sanctions.DEMO_LIST.read_text(encoding="utf-8"))
    ids = [e["id"] for e in data["entries"]]
    assert len(ids) == len(set(ids)) and all(i.startswith("DEMO-") for i in ids)
    assert "fictional" in data["note"].lower()


# -- 10,000 entries -----------------------------------------------------------------------

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvzwq" for v in "aeiouyäöø"]


def _word(rnd: random.Random) -> str:
    return "".join(rnd.choice(_SYLLABLES) for _ in range(rnd.randint(2, 4))).capitalize()


def _generated(n: int, seed: int = 20) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        individual = rnd.random() < 0.6
        words = " ".join(_word(rnd) for _ in range(rnd.randint(2, 3)))
        out.append(
            {
                "id": f"GEN-{i:05d}",
                "type": "individual" if individual else "entity",
                "name": words if individual else words + rnd.choice([" Ltd", " GmbH", " S.A.", " LLC"]),
                "aliases": [" ".join(_word(rnd) for _ in range(2)) for _ in range(rnd.randint(0, 1))],
            }
        )
    return out


def test_ten_thousand_entries():
    big = Screening.from_json(json.dumps({"name": "GEN", "entries": _generated(10_000)}))
    assert len(big) == 10_000
    assert only(BAH, big).passed and only(TWO, big).passed
    target = big.entries[4321]
    typo = target.name[:-2] + target.name[-1] + target.name[-2]  # two letters swapped
    v = only(names(debtor="Muster Maschinenbau GmbH", creditor=typo), big)
    expected = big._scan(sanctions._key(sanctions._tokens(typo)))
    assert expected is not None and f"entry {expected.entry.id} " in v.narrative


def test_the_trigram_filter_finds_what_a_full_scan_finds():
    rnd = random.Random(5)
    for threshold in (80, 90, 95):
        big = Screening.from_json(json.dumps(_generated(2_000, seed=threshold)), reject_threshold=threshold)
        for _ in range(300):
            entry = rnd.choice(big.entries)
            chars = list(rnd.choice((entry.name, *entry.aliases)))
            for _ in range(rnd.randint(0, 3)):
                i = rnd.randrange(len(chars))
                if rnd.random() < 0.5:
                    chars[i] = rnd.choice("abcdefghijklmnopqrstuvwxyz")
                else:
                    chars.insert(i, rnd.choice("abcdefghijklmnopqrstuvwxyz "))
            key = sanctions._key(sanctions._tokens("".join(chars)))
            found, scanned = big._fuzzy(key), big._scan(key)
            assert (found and found.score) == (scanned and scanned.score), key
