"""A party that dies mid-round: the round goes on with the quorum, unless that party was required."""

from __future__ import annotations

from typing import ClassVar

import pytest

from fldecl.fl.local_aggregator import Aggregator

from .flstack import serve_with_local_parties


class KillingAggregator(Aggregator):
    """Kills Party_3's process right after asking it to train round 2."""

    processes: ClassVar[dict] = {}

    def _collect_updates(self, sessions, round_number):
        if round_number == 2:
            self.processes["Party_3"].kill()
        return super()._collect_updates(sessions, round_number)


@pytest.mark.slow
def test_a_dead_party_that_is_not_required_leaves_the_quorum_to_finish(make_job):
    job = make_job(required=False, quorum=0.6)
    aggregator = KillingAggregator(job)
    serve_with_local_parties(aggregator)
    document = aggregator.status.document
    assert document["state"] == "completed", document["reason"]
    assert document["rounds"][1]["contributors"] == ["Party_1", "Party_2"]
    assert document["rounds"][1]["parties"]["Party_3"]["contributed"] is False
    assert document["final_models"] == ["Party_1", "Party_2"]
    assert any(event["kind"] == "party_lost" and event["party"] == "Party_3" for event in document["events"])


@pytest.mark.slow
def test_a_dead_required_party_fails_the_training(make_job):
    job = make_job(required=True, quorum=0.6)
    aggregator = KillingAggregator(job)
    serve_with_local_parties(aggregator)
    document = aggregator.status.document
    assert document["state"] == "failed"
    assert document["reason"] == "round 2: required party Party_3 closed its connection"


def test_too_few_parties_miss_the_quorum(make_job):
    job = make_job(required=False, quorum=1.0, max_timeout=20, rounds=1)
    aggregator = Aggregator(job)
    serve_with_local_parties(aggregator, ["Party_1", "Party_2"])
    document = aggregator.status.document
    assert document["state"] == "failed"
    assert document["reason"] == "joining: 2 of 3 parties joined, quorum 1 needs 3 (Party_3 did not join within 20 s)"
