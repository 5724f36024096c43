"""Jobs on a real NVFlare server: the ownership tag in ``custom_props``, the retry-safe submit token.

The jobs here carry no training (their app stops at once): what is tested is how fldecl finds,
submits and deletes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fldecl.core.contract import DeleteRequest, ProviderContext, ReadRequest
from fldecl.providers.nvflare import jobs
from fldecl.providers.nvflare.trainings import Trainings
from tests.nvflare.conftest import SITES, Running

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

OWNER = "fldecl.stack.jobs-test"
NO_TRAINING = {"quorum_size": 1}


class Silent:
    def progress(self, address: str, message: str) -> None:
        pass


def context(running: Running, tmp_path: Path) -> ProviderContext:
    return ProviderContext("jobs-test", tmp_path, running.state_dir, OWNER, Silent())


def write(tmp_path: Path, name: str, tags: list[str], content: str = "initial") -> Path:
    parties = [jobs.JobParty(site, site, False, "") for site in SITES]
    return jobs.write_job(tmp_path / name, name, {**NO_TRAINING, "name": name}, parties, content.encode(), tags, name,
                          {"rounds": 1})


def test_a_resubmitted_job_is_the_same_job_and_a_deleted_one_gets_a_new_token(running: Running, tmp_path: Path) -> None:
    folder = write(tmp_path, "twice", [OWNER])
    with running.deployment.session() as session:
        first = jobs.submit(session, folder, OWNER, "twice")
        assert jobs.submit(session, folder, OWNER, "twice") == first
        assert [job["job_id"] for job in jobs.owned_jobs(session, OWNER)] == [first]
        jobs.abort_and_delete(session, first)
        assert jobs.owned_jobs(session, OWNER) == []
        again = jobs.submit(session, folder, OWNER, "twice")
        assert again != first
        assert [job["job_id"] for job in jobs.owned_jobs(session, OWNER)] == [again]
        jobs.abort_and_delete(session, again)


def test_jobs_without_the_stacks_tag_are_never_read_or_deleted(running: Running, tmp_path: Path) -> None:
    trainings = Trainings(running.deployment, running.deployment_store(), lambda model_id: tmp_path / "unused")
    ctx = context(running, tmp_path)
    with running.deployment.session() as session:
        foreign = jobs.submit(session, write(tmp_path, "someone-elses", ["fldecl.stack.another"]), "fldecl.stack.another", "x")
        ours = jobs.submit(session, write(tmp_path, "ours", [OWNER]), OWNER, "ours")
    observed = trainings.read(ReadRequest(OWNER), ctx)
    assert [obs.id for obs in observed] == [ours]
    assert observed[0].name == "ours" and observed[0].attributes == {"rounds": 1}
    for obs in observed:
        trainings.delete(DeleteRequest(obs), ctx)
    assert trainings.read(ReadRequest(OWNER), ctx) == []
    with running.deployment.session() as session:
        assert foreign in {job["job_id"] for job in session.list_jobs()}
        jobs.abort_and_delete(session, foreign)


def test_a_job_state_in_fldecls_words() -> None:
    assert jobs.training_state("FINISHED:COMPLETED") == "completed"
    assert jobs.training_state("FINISHED:ABORTED") == "canceled"
    assert jobs.training_state("FINISHED:EXECUTION_EXCEPTION") == "failed"
    assert jobs.training_state("RUNNING") == "running"
    assert jobs.ownership({"custom_props": {"other": 1}}) is None
