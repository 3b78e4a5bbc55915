"""The in-process bench's persistence (bench/chained_popo.py) pays for the audit chain, the
compression and the encryption: each event is linked as the DynamoDB recorder links it."""

from __future__ import annotations

import hashlib
from itertools import pairwise

from bench.chained_popo import ChainedPOPOAggregateRecorder
from bench.inprocess import memory_pipeline, messages, one_payment
from chalicelib.eventstore.chain import GENESIS, event_hash, plaintext


def test_every_event_of_a_bench_payment_is_chained_over_its_plaintext_and_stored_encrypted():
    pipeline = memory_pipeline()
    one_payment(pipeline, messages(1)[0])
    payments = pipeline.adapters.payments
    recorder = payments.recorder
    assert isinstance(recorder, ChainedPOPOAggregateRecorder)
    assert payments.mapper.cipher is not None and payments.mapper.compressor is not None
    events = list(recorder._stored_events)
    assert [e.originator_version for e in events] == [1, 2, 3, 4, 5]
    links = [recorder.chain[(str(e.originator_id), e.originator_version)] for e in events]
    assert links[0][0] == GENESIS
    for (_, before, _), (prev, _, _) in pairwise(links):
        assert prev == before
    for e, (prev, digest, who) in zip(events, links, strict=True):
        plain = plaintext(payments.mapper, e.state)
        assert plain != e.state
        topic, version = e.topic, e.originator_version
        assert digest == event_hash(str(e.originator_id), version, topic, hashlib.sha256(plain).hexdigest(), prev, who)
