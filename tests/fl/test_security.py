"""Who sees what: the aggregator holds no key, cannot swap keys in, and refuses strangers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fldecl.fl import PartyError, run_party
from fldecl.fl.local_aggregator import Aggregator
from fldecl.fl.local_party import Party
from fldecl.fl.party_tasks import PartyTasks, TrainingToJoin
from fldecl.fl.protocol import Message
from fldecl.he import SecretKeyring, aggregate, contributors, seeds, wire
from fldecl.he.keyshare import open_keyring, seal_keyring
from fldecl.models import get_parameters, load_model

from .flstack import Background, assert_no_outsider_can_open_the_keys, party_log, party_settings, relaying, serve_with_local_parties

#: Enough parties for a round whose fused model or a party's update is tampered with: each party is a process to start.
TWO_PARTIES = ("Party_1", "Party_2")


def _recording(received):
    """A relay that keeps every reply the parties sent."""
    def on_replies(replies):
        received.extend((name, reply) for name, reply in replies.items() if isinstance(reply, Message))
        return replies

    return relaying(on_replies=on_replies)


@pytest.mark.slow(seconds=15)
def test_the_aggregator_receives_no_secret_key_and_cannot_open_the_keys(stack, make_job):
    job = make_job(rounds=1)
    received = []
    aggregator = Aggregator(job, relay=_recording(received))
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "completed", aggregator.status.document["reason"]

    ca_pem = stack.ca_cert.read_bytes()
    bundle = assert_no_outsider_can_open_the_keys((message for _, message in received), job.training_id, ca_pem,
                                                  [stack.key("aggregator").read_bytes()])

    # What the aggregator could compute, the encrypted sum, is the final model only under a party's key.
    updates = [message.payloads[0] for _, message in received if message.type == "update"]
    fused = aggregate(aggregator.workflow.strategy.public_context, updates)
    keyring = open_keyring(bundle, job.training_id, "Party_1", stack.key("Party_1").read_bytes(), ca_pem)
    average = keyring.decrypt(fused) / contributors(fused)
    final = load_model(Path(job.work_dir) / "parties" / "Party_1" / "final_model.zip", job.model_file, trusted=True)
    np.testing.assert_allclose(np.concatenate([array.ravel() for array in get_parameters(final)]), average, atol=1e-6)


def _substituting(stack, job, signer_name, signer_cert):
    """A relay that swaps the parties' key bundle for its own keyring, sealed for the same certificates, signed as ``signer_name``."""
    certificates = {}

    def on_tasks(tasks):
        for task in tasks.values():
            if task.type == "generate_keys":
                certificates.update({name: pem.encode() for name, pem in task.fields["party_certificates"].items()})
        if not any(task.type == "keys" for task in tasks.values()):
            return tasks
        signers = {**certificates, signer_name: stack.cert(signer_cert).read_bytes()}
        bundle = seal_keyring(SecretKeyring.generate(job.cipher_spec), job.training_id, stack.key(signer_cert).read_bytes(),
                              signers[signer_name], signers, stack.ca_cert.read_bytes())
        return {name: Message(task.type, task.fields, [bundle]) for name, task in tasks.items()}

    return relaying(on_tasks=on_tasks)


@pytest.mark.parametrize(("signer_name", "signer_cert"), [("Party_1", "aggregator"), ("Party_4", "Party_4")],
                         ids=["as a party with the aggregator's key", "as an outsider of the stack's CA"])
def test_parties_reject_keys_the_aggregator_substituted(stack, make_job, signer_name, signer_cert):
    job = make_job(rounds=1)
    aggregator = Aggregator(job, relay=_substituting(stack, job, signer_name, signer_cert))
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


def _flip_a_byte_of_party_2s_update(replies):
    """As a faulty network or store might."""
    update = replies.get("Party_2")
    if not isinstance(update, Message) or update.type != "update":
        return replies
    payload = bytearray(update.payloads[0])
    payload[len(payload) // 2] ^= 0xFF
    return {**replies, "Party_2": Message(update.type, update.fields, [bytes(payload)])}


def test_a_tampered_ciphertext_fails_the_round_with_the_reason(make_job):
    job = make_job(rounds=1, parties=TWO_PARTIES)
    aggregator = Aggregator(job, relay=relaying(on_replies=_flip_a_byte_of_party_2s_update))
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "failed"
    reason = aggregator.status.document["reason"]
    assert reason.startswith("round 1 failed") and "Party_2" in reason and "corrupt" in reason


class TruncatingTasks(PartyTasks):
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
        training = TrainingToJoin.from_job(job)
        party = Party(rogue_settings, training, address, tasks=TruncatingTasks(rogue_settings, training))
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


def _editing_the_fused_model(edit):
    """A relay that sends out a fused model whose seed list it edited, re-framed with a valid checksum (and count, if asked)."""
    def edited(fused):
        fields = wire.unpack(fused, wire.Kind.CIPHERTEXT)
        entries, recount = edit(seeds.unpack_list(fields[3]))
        fields[3] = seeds.pack_list(entries)
        if recount:
            fields[2] = fields[2][:8] + len(entries).to_bytes(4, "little")
        return wire.pack(wire.Kind.CIPHERTEXT, fields)

    def on_tasks(tasks):
        return {name: Message(task.type, task.fields, [edited(task.payloads[0])]) if task.type == "evaluate" else task
                for name, task in tasks.items()}

    return relaying(on_tasks=on_tasks)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [(_flip_a_seed, "the seed list was altered: the seed of 'Party_"), (_drop_a_seed, "its seed list does not match its ciphertexts")],
    ids=["tampered", "truncated"],
)
def test_an_edited_seed_list_fails_the_round_with_the_reason(make_job, edit, reason):
    job = make_job(rounds=1, parties=TWO_PARTIES)
    aggregator = Aggregator(job, relay=_editing_the_fused_model(edit))
    serve_with_local_parties(aggregator)
    assert aggregator.status.state == "failed"
    failure = aggregator.status.document["reason"]
    assert failure.startswith("round 1 failed: ") and "cannot decrypt the fused model of round 1" in failure and reason in failure
    assert aggregator.status.document["rounds"] == []
    for name in job.local_party_names:
        assert reason in party_log(job, name)


def test_a_party_never_shares_the_keys_with_an_identity_of_the_ca_that_is_no_party(stack, make_job):
    """An engine's admin user (NVFlare's) holds a certificate of the stack's CA too: keys for it are refused both ways."""
    job = make_job(rounds=1)
    settings = party_settings(stack, "Party_1", "digits")
    tasks = PartyTasks(settings, TrainingToJoin.from_job(job))
    tasks.trust_server(stack.cert("aggregator").read_bytes())
    tasks.never_share_with(stack.cert("Party_4").read_bytes(), "the NVFlare admin")
    certificates = {name: stack.cert(name).read_text() for name in ("Party_1", "Party_4")}
    with pytest.raises(PartyError, match="listed the certificate of the NVFlare admin as party 'Party_4'"):
        tasks.handle(Message("generate_keys", {"party_certificates": certificates}))
    recipients = {name: stack.cert(name).read_bytes() for name in ("Party_1", "Party_2", "Party_4")}
    bundle = seal_keyring(SecretKeyring.generate(job.cipher_spec), job.training_id, stack.key("Party_2").read_bytes(),
                          recipients["Party_2"], recipients, stack.ca_cert.read_bytes())
    with pytest.raises(PartyError, match="it shares the keys with the NVFlare admin"):
        tasks.handle(Message("keys", {}, [bundle]))
