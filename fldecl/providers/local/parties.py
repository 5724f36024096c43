"""``fldecl party run`` on the local backend: one party of a training, run by hand with its declared settings.

Everything a party needs comes from the resources it shares with the consortium (its
certificate, its data handler, the model, which it builds itself) and from the training it
joins; nothing secret travels through the aggregator.
"""

from __future__ import annotations

from fldecl.core.contract import ProviderContext
from fldecl.core.errors import ProviderError
from fldecl.fl import PartyError
from fldecl.fl import run_party as run_fl_party
from fldecl.fl.local_party import parse_address
from fldecl.fl.status import TrainingEvent
from fldecl.kinds.model import MODEL
from fldecl.kinds.training_run import PartyRun, progress_of
from fldecl.launch.parties import party_identity, party_settings
from fldecl.models import build_zip, model_file_of


def run_party(run: PartyRun, ctx: ProviderContext) -> None:
    training, rts = run.training, run.rts
    address = run.aggregator or _recorded_aggregator(run)
    model = run.resource(training.attributes["model"], MODEL.name)
    settings = party_settings(party_identity(rts, run.related), ctx.stack_dir, run.key_file)
    work_dir = ctx.state_dir / "parties" / rts.name / training.id
    work_dir.mkdir(parents=True, exist_ok=True)
    model_zip = work_dir / "initial_model.zip"
    model_zip.write_bytes(build_zip(model.attributes, ctx.stack_dir))

    with open(work_dir / "party.log", "a") as log:  # `fldecl logs` reads it

        def report(event: TrainingEvent) -> None:
            ctx.reporter.progress(rts.address, event.message)
            print(event.log_line(), file=log, flush=True)

        try:
            result = run_fl_party(settings, training.id, parse_address(address), model_zip, model_file_of(model.attributes) or "",
                                  model.attributes["type"], True, work_dir, report)
        except (PartyError, ValueError) as exc:
            print(f"error: {exc}", file=log, flush=True)
            raise ProviderError(str(exc)) from exc
    ctx.reporter.progress(rts.address, f"done; the final model stays here: {result.final_model}")


def _recorded_aggregator(run: PartyRun) -> str:
    """Where the local backend's aggregator of this training listens, as its run recorded it."""
    progress = progress_of(run.training)
    if progress is None or progress.aggregator is None:
        raise ProviderError(f"{run.training.address} has no aggregator running here ({run.training.status}); "
                            "pass --aggregator HOST:PORT")
    return str(progress.aggregator)
