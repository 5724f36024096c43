"""Who sees what: the aggregator holds no key, cannot swap keys in, and refuses strangers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fldecl.fl import PartyError, run_party
from fldecl.fl.local_aggregator import Aggregator
from fldecl.fl.local_party import Party, TrainingToJoin
from fldecl.he import HEError, SecretKeyring, aggregate, contributors, seeds, wire
from fldecl.he.keyshare import KeyShareError, open_keyring, seal_keyring
from fldecl.models import get_parameters, load_model

from .flstack import Background, party_log, party_settings, serve_with_local_parties


class RecordingAggregator(Aggregator):
    """Keeps every message the parties sent it."""

    def __init__(self, job) -> None:
        super().__init__(job)
        self.received = []

    def _receive_from(self, session, deadline):
        message = super()._receive_from(session, deadline)
        if message is not None:
            self.received.append((session.name, message))
        return message


@pytest.mark.slow
def test_the_aggregator_receives_no_secret_key_and_cannot_open_the_keys(stack, make_job):
    job = make_job(rounds=1)
    aggregator = RecordingAggregator(job)
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "completed", aggregator.status.document["reason"]

    payloads = [payload for _, message in aggregator.received for payload in message.payloads]
    for payload in payloads:
        with pytest.raises(HEError):
            SecretKeyring.from_bytes(payload)
    (bundle,) = [message.payloads[0] for _, message in aggregator.received if message.type == "keys_generated"]
    ca_pem = stack.ca_cert.read_bytes()
    with pytest.raises(KeyShareError):
        open_keyring(bundle, job.training_id, "aggregator", stack.key("aggregator").read_bytes(), ca_pem)
    with pytest.raises(KeyShareError):  # the aggregator's key does not open a party's copy either
        open_keyring(bundle, job.training_id, "Party_1", stack.key("aggregator").read_bytes(), ca_pem)

    # What the aggregator could compute, the encrypted sum, is the final model only under a party's key.
    updates = [message.payloads[0] for _, message in aggregator.received if message.type == "update"]
    fused = aggregate(aggregator.strategy.public_context, updates)
    keyring = open_keyring(bundle, job.training_id, "Party_1", stack.key("Party_1").read_bytes(), ca_pem)
    average = keyring.decrypt(fused) / contributors(fused)
    final = load_model(Path(job.work_dir) / "parties" / "Party_1" / "final_model.zip", job.model_file, trusted=True)
    np.testing.assert_allclose(np.concatenate([array.ravel() for array in get_parameters(final)]), average, atol=1e-6)


class SubstitutingAggregator(Aggregator):
    """Makes its own keyring and relays that instead of asking a party, signing as ``signer_name``."""

    signer_name = "Party_1"
    signer_cert = "aggregator"

    def _request_keys(self, generator):
        stack_pki = Path(self.job.aggregator_cert_file).parent
        certificates = {session.name: session.certificate_pem.encode() for session in self._alive()}
        certificates[self.signer_name] = (stack_pki / f"{self.signer_cert}.cert.pem").read_bytes()
        return seal_keyring(
            SecretKeyring.generate(self.job.cipher_spec), self.job.training_id,
            (stack_pki / f"{self.signer_cert}.key.pem").read_bytes(), certificates[self.signer_name],
            certificates, Path(self.job.ca_cert_file).read_bytes(),
        )

    def _public_context(self, bundle, generator):
        return SecretKeyring.generate(self.job.cipher_spec).public_context()


class OutsiderSigningAggregator(SubstitutingAggregator):
    """Uses another certificate from the stack's CA, of someone who is not a party."""

    signer_name = "Party_4"
    signer_cert = "Party_4"


@pytest.mark.parametrize("aggregator_class", [SubstitutingAggregator, OutsiderSigningAggregator])
def test_parties_reject_keys_the_aggregator_substituted(make_job, aggregator_class):
    job = make_job(rounds=1)
    aggregator = aggregator_class(job)
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "failed"
    assert "rejected the key bundle" in aggregator.status.document["reason"]
    assert aggregator.status.document["rounds"] == []
    for name in job.local_party_names:
        assert "rejected the key bundle" in party_log(job, name)


def test_a_party_with_a_certificate_from_another_ca_is_refused(stack, make_job):
    job = make_job(max_timeout=3)
    aggregator = Aggregator(job)
    host, port = aggregator.bind()
    serving = Background(aggregator.serve)
    impostor = party_settings(stack, "Party_2", "digits", cert_name="impostor")
    with pytest.raises(PartyError, match="aggregator refused Party_2's certificate: not issued by the stack's CA"):
        run_party(impostor, job.training_id, (host, port), Path(job.model_zip), job.model_file, job.model_type, True, Path(job.work_dir))
    serving.join()
    assert aggregator.status.state == "failed"
    assert "did not join" in aggregator.status.document["reason"]
    assert any(event["kind"] == "party_refused" for event in aggregator.status.document["events"])


class TamperingAggregator(Aggregator):
    """Flips one byte in Party_2's ciphertext, as a faulty network or store might."""

    def _collect_updates(self, sessions, round_number):
        updates = super()._collect_updates(sessions, round_number)
        payload = bytearray(updates["Party_2"].payloads[0])
        payload[len(payload) // 2] ^= 0xFF
        updates["Party_2"].payloads[0] = bytes(payload)
        return updates


def test_a_tampered_ciphertext_fails_the_round_with_the_reason(make_job):
    job = make_job(rounds=1)
    aggregator = TamperingAggregator(job)
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "failed"
    reason = aggregator.status.document["reason"]
    assert reason.startswith("round 1 failed") and "Party_2" in reason and "corrupt" in reason


class TruncatingParty(Party):
    """Sends an update with fewer values than the model has."""

    def update_vector(self):
        return super().update_vector()[:-7]


def test_a_wrong_shape_update_fails_the_round_with_the_reason(stack, make_job):
    job = make_job(rounds=1)
    aggregator = Aggregator(job)
    rogue_settings = party_settings(stack, "Party_3", "digits")

    def rogue() -> None:
        while aggregator.status.document["aggregator"] is None:
            pass
        address = (aggregator.status.document["aggregator"]["host"], aggregator.status.document["aggregator"]["port"])
        party = TruncatingParty(rogue_settings, TrainingToJoin.from_job(job, address))
        with pytest.raises(PartyError):
            party.run()

    rogue_party = Background(rogue)
    serve_with_local_parties(aggregator, ["Party_1", "Party_2"])
    rogue_party.join()
    assert rogue_party.error is None, rogue_party.error
    assert aggregator.status.state == "failed"
    reason = aggregator.status.document["reason"]
    assert reason.startswith("round 1 failed") and "values, expected" in reason


def _flip_a_seed(entries):
    seed = bytearray(entries[-1].seed)
    seed[0] ^= 0x01
    return [*entries[:-1], seeds.SeedEntry(entries[-1].contributor, bytes(seed), entries[-1].tag)], False


def _drop_a_seed(entries):
    return entries[:-1], True


class SeedListEditingAggregator(Aggregator):
    """Relays a fused model whose seed list it edited, re-framed with a valid checksum (and count, if asked)."""

    edit = staticmethod(_flip_a_seed)

    def _setup_fusion(self):
        super()._setup_fusion()
        fuse = self.strategy.fuse
        self.strategy.fuse = lambda updates: self._edited(fuse(updates))

    def _edited(self, fused):
        fields = wire.unpack(fused, wire.Kind.CIPHERTEXT)
        entries, recount = self.edit(seeds.unpack_list(fields[3]))
        fields[3] = seeds.pack_list(entries)
        if recount:
            fields[2] = fields[2][:8] + len(entries).to_bytes(4, "little")
        return wire.pack(wire.Kind.CIPHERTEXT, fields)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [(_flip_a_seed, "the seed list was altered: the seed of 'Party_"), (_drop_a_seed, "its seed list does not match its ciphertexts")],
    ids=["tampered", "truncated"],
)
def test_an_edited_seed_list_fails_the_round_with_the_reason(make_job, edit, reason):
    job = make_job(rounds=1)
    aggregator = SeedListEditingAggregator(job)
    aggregator.edit = edit
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "failed"
    failure = aggregator.status.document["reason"]
    assert failure.startswith("round 1 failed: ") and "cannot decrypt the fused model of round 1" in failure and reason in failure
    assert aggregator.status.document["rounds"] == []
    for name in job.local_party_names:
        assert reason in party_log(job, name)
