"""The apply engine on an in-memory provider: retries, failure isolation, ordering, ownership."""

from __future__ import annotations

from pathlib import Path

import pytest

from fldecl.core.contract import ApplyOptions, Observed, ProviderContext
from fldecl.core.errors import ProviderError, TransientError
from fldecl.core.reconciler import Reconciler
from fldecl.core.retry import RetryPolicy
from fldecl.kinds import load_stack
from fldecl.providers.memory import MemoryBackend
from tests.core.stacks import write_stack

KINDS = ("CertificateAuthority", "PartyCertificate", "Model", "RemoteTrainingSystem")


class Silent:
    def step_started(self, step: tuple[str, str]) -> None: ...
    def step_retrying(self, step: tuple[str, str], message: str, attempt: int, delay: float) -> None: ...
    def step_finished(self, step: tuple[str, str], outcome: str, message: str, seconds: float) -> None: ...
    def progress(self, address: str, message: str) -> None: ...


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Reconciler, MemoryBackend]:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, hint: 0.0)
    stack = load_stack(write_stack(tmp_path / "stack", model=False, parties=3))
    provider = MemoryBackend(KINDS)
    ctx = ProviderContext(stack.name, stack.directory, stack.state_dir, stack.owner_tag, Silent())
    return Reconciler(stack, provider.providers(), ctx), provider


def test_transient_errors_are_retried(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    provider.failures["Party_1"] = [TransientError("429 too many requests", retry_after=0), TransientError("503")]
    result = rec.apply(rec.plan(), Silent())
    assert not result.failed
    assert provider.calls.count(("create", "RemoteTrainingSystem/Party_1")) == 3


def test_a_failure_skips_its_dependants_and_lets_the_rest_finish(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    provider.failures["issuer"] = [ProviderError("disk full")]
    result = rec.apply(rec.plan(), Silent())
    assert [r.step for r in result.failed] == [("create", "CertificateAuthority/issuer")]
    assert [r.step for r in result.skipped] == [("create", "PartyCertificate/party-1")]
    assert result.count("create") == 3
    assert {o.name for o in provider.held.values()} == {"Party_1", "Party_2", "Party_3"}


class Recording(Silent):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def step_started(self, step: tuple[str, str]) -> None:
        self.events.append(("started", step[1]))

    def step_retrying(self, step: tuple[str, str], message: str, attempt: int, delay: float) -> None:
        self.events.append((f"retrying after attempt {attempt}: {message}", step[1]))

    def step_finished(self, step: tuple[str, str], outcome: str, message: str, seconds: float) -> None:
        self.events.append((outcome, step[1]))


def test_retries_are_reported_as_they_happen(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    provider.failures["Party_1"] = [TransientError("503 unavailable")]
    listener = Recording()
    rec.apply(rec.plan(), listener)
    party = [event for event, address in listener.events if address == "RemoteTrainingSystem/Party_1"]
    assert party == ["started", "retrying after attempt 1: 503 unavailable", "ok"]


def test_a_step_is_reported_started_when_it_starts(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, _ = setup
    listener = Recording()
    rec.apply(rec.plan(), listener, ApplyOptions(parallelism=1))
    kinds = [event for event, _ in listener.events]
    assert kinds == ["started", "ok"] * (len(kinds) // 2), "with parallelism 1, each step starts after the last one finished"


def test_transient_errors_give_up_after_the_bound(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    provider.failures["Party_2"] = [TransientError("503")] * 10
    result = rec.apply(rec.plan(), Silent())
    assert [r.step for r in result.failed] == [("create", "RemoteTrainingSystem/Party_2")]
    assert "gave up after 6 attempts" in result.failed[0].message


def test_replacement_deletes_dependants_before_dependencies(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    rec.apply(rec.plan(), Silent())
    provider.calls.clear()
    rec.apply(rec.plan(replace=["CertificateAuthority/issuer"]), Silent())
    order = list(provider.calls)
    assert order.index(("delete", "PartyCertificate/party-1")) < order.index(("delete", "CertificateAuthority/issuer"))
    assert order.index(("create", "CertificateAuthority/issuer")) < order.index(("create", "PartyCertificate/party-1"))


def test_a_resource_without_the_ownership_tag_is_never_deleted(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    rec.apply(rec.plan(), Silent())
    plan = rec.plan(destroy=True)
    victim = next(c for c in plan.changes if c.address == "RemoteTrainingSystem/Party_1")
    assert victim.current is not None
    victim.current.tags = ["someone-else"]
    result = rec.apply(plan, Silent())
    assert [r.step for r in result.failed] == [("delete", "RemoteTrainingSystem/Party_1")]
    assert "does not carry the ownership tag" in result.failed[0].message
    assert any(o.name == "Party_1" for o in provider.held.values())


def test_a_duplicate_left_behind_is_deleted_and_the_original_kept(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, provider = setup
    rec.apply(rec.plan(), Silent())
    original = next(o for o in provider.held.values() if o.name == "Party_1")
    original.created_at = "2026-01-01T00:00:00Z"
    copy = Observed(original.kind, original.name, "id-copy", list(original.tags), dict(original.attributes),
                    created_at="2026-01-02T00:00:00Z")
    provider.held[copy.id] = copy
    plan = rec.plan()
    duplicate = [c for c in plan.changes if c.duplicate]
    assert [(c.key, c.actions) for c in duplicate] == [("RemoteTrainingSystem/Party_1#id-copy", ["delete"])]
    result = rec.apply(plan, Silent())
    assert not result.failed
    assert original.id in provider.held and copy.id not in provider.held
    assert not rec.plan().has_changes


def test_targeted_destroy_takes_the_target_and_its_dependants_only(setup: tuple[Reconciler, MemoryBackend]) -> None:
    rec, _provider = setup
    rec.apply(rec.plan(), Silent())
    plan = rec.plan(destroy=True, targets=["CertificateAuthority/issuer"])
    assert sorted(c.address for c in plan.changes) == ["CertificateAuthority/issuer", "PartyCertificate/party-1"]
    plan = rec.plan(destroy=True, targets=["PartyCertificate/party-1"])
    assert [c.address for c in plan.changes] == ["PartyCertificate/party-1"]
