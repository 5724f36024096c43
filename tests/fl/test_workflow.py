"""The round workflow and the party side over a transport with no network: each task handed to PartyTasks in-process.

This is what any transport (TLS, NVIDIA FLARE) must provide, and nothing more; the TLS runtime's
own tests are test_training, test_security and test_quorum.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from fldecl.fl.errors import PartyError
from fldecl.fl.party_tasks import PartyTasks, TrainingToJoin
from fldecl.fl.protocol import Message
from fldecl.fl.status import StatusWriter
from fldecl.fl.transport import AdmissionEvent, Admit, Candidate, Joined, NoAnswer, Refusal, Refused, Reply, Traffic, Transport
from fldecl.fl.workflow import RoundWorkflow


class InProcessTransport:
    """Parties as PartyTasks objects in this process; a party that raised PartyError is gone."""

    def __init__(self, parties: dict[str, tuple[PartyTasks, bytes]], training_id: str, server_cert_pem: bytes) -> None:
        self.parties = parties
        self.training_id = training_id
        self.waiting = list(parties)
        self.gone: set[str] = set()
        self.counted: dict[str, Traffic] = {}
        for tasks, _ in parties.values():
            tasks.trust_server(server_cert_pem)

    def wait_for_parties(self, admit: Admit, timeout: float) -> list[AdmissionEvent]:
        events: list[AdmissionEvent] = []
        while self.waiting:
            name = self.waiting.pop(0)
            tasks, certificate_pem = self.parties[name]
            der = ssl.PEM_cert_to_DER_cert(certificate_pem.decode())
            try:
                events.append(Joined(admit(Candidate(name, der, name, self.training_id)), certificate_pem.decode(), name))
            except Refusal as refusal:
                events.append(Refused(name, str(refusal), name))
                continue
            try:
                tasks.load()
            except PartyError as error:
                events.append(self._gone(name, error))
        return events

    def ask(self, tasks: Mapping[str, Message], timeout: float) -> dict[str, Reply]:
        replies: dict[str, Reply] = {}
        for name, task in tasks.items():
            if name in self.gone:
                replies[name] = NoAnswer(name, "is not connected", gone=True)
                continue
            try:
                replies[name] = self.parties[name][0].handle(task)
            except PartyError as error:
                replies[name] = self._gone(name, error)
                continue
            self._count(name, task, replies[name])
        return replies

    def tell(self, parties: Iterable[str], message: Message) -> None:
        for name in parties:
            if name not in self.gone:
                with contextlib.suppress(PartyError):  # an abort stops the party
                    self.parties[name][0].handle(message)

    def drop(self, party: str) -> None:
        self.gone.add(party)

    def traffic(self, party: str) -> Traffic:
        return self.counted.get(party, Traffic())

    def close(self) -> None:
        self.gone.update(self.parties)

    def _gone(self, name: str, error: PartyError) -> NoAnswer:
        self.gone.add(name)
        return NoAnswer(name, "stopped with an error", gone=True, party_error=str(error))

    def _count(self, name: str, task: Message, reply: Reply) -> None:
        previous = self.counted.get(name, Traffic())
        sent = sum(map(len, reply.payloads)) if isinstance(reply, Message) else 0
        self.counted[name] = Traffic(previous.sent + sent, previous.received + sum(map(len, task.payloads)))


def _workflow(stack, job, tasks_class=PartyTasks):
    training = TrainingToJoin.from_job(job)
    parties = {settings.name: (tasks_class(settings, training), Path(settings.cert_file).read_bytes()) for settings in job.local_parties}
    transport = InProcessTransport(parties, job.training_id, stack.cert("aggregator").read_bytes())
    assert isinstance(transport, Transport)
    status = StatusWriter(Path(job.work_dir), job.training_id, job.rounds)
    return RoundWorkflow(job, transport, status), parties


@pytest.mark.parametrize("fusion_type", ["iter_avg", pytest.param("crypto_iter_avg", marks=pytest.mark.slow(seconds=8))])
def test_a_training_runs_over_a_transport_without_a_network(stack, make_job, fusion_type):
    job = make_job(fusion_type=fusion_type, rounds=2)
    workflow, parties = _workflow(stack, job)
    assert workflow.run() == "completed", workflow.status.document["reason"]
    document = workflow.status.document
    assert [record["round"] for record in document["rounds"]] == [1, 2]
    assert document["final_models"] == sorted(parties)
    assert all(tasks.result is not None and tasks.result.final_model.is_file() for tasks, _ in parties.values())
    assert all(entry["bytes_sent"] > 0 for entry in document["rounds"][0]["parties"].values())
    assert (document["key_distribution"] is not None) == (fusion_type == "crypto_iter_avg")


class FailingInRound2(PartyTasks):
    def _train(self, task):
        if self.name == "Party_3" and task.fields["round"] == 2:
            raise PartyError(f"{self.name} ran out of memory")
        return super()._train(task)


@pytest.mark.parametrize(("required", "state"), [(False, "completed"), (True, "failed")])
def test_a_party_that_stops_is_dropped_and_the_quorum_decides(stack, make_job, required, state):
    job = make_job(fusion_type="iter_avg", rounds=2, quorum=0.6, required=required)
    workflow, _ = _workflow(stack, job, FailingInRound2)
    assert workflow.run() == state
    document = workflow.status.document
    assert any(event["kind"] == "party_error" and event["party"] == "Party_3" for event in document["events"])
    if required:
        assert document["failure"]["required_missing"] == "Party_3"
        assert document["failure"]["missing"]["Party_3"] == "stopped with an error (Party_3 ran out of memory)"
    else:
        assert document["rounds"][1]["contributors"] == ["Party_1", "Party_2"]
