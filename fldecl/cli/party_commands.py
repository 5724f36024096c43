"""``fldecl party run``: one party of a training, run by hand with its declared settings.

Everything a party needs comes from the manifests it shares with the consortium (its
certificate, its data handler, the model, which it builds itself) and from the training it
joins; nothing secret travels through the aggregator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fldecl.cli.session import LineReporter, fail, guarded, load, reconciler
from fldecl.core.manifest import Declaration, Stack
from fldecl.providers.local.jobs import declared, party_settings


@guarded
def run(rts_name: str, training_name: str, aggregator: str | None, stack_dir: Path, backend: str | None) -> None:
    stack = load(stack_dir, backend)
    rts = declared(stack, f"RemoteTrainingSystem/{rts_name}")
    training_decl = declared(stack, f"Training/{training_name}")
    if rts_name not in [item["name"] for item in training_decl.spec["remote_training"]["remote_training_systems"]]:
        fail(f"{rts_name} is not a party of Training/{training_name}")
    observed = {o.address: o for o in reconciler(stack).observe()}
    training = observed.get(training_decl.address)
    if training is None:
        fail(f"Training/{training_name} does not exist in the {stack.backend} backend; run `fldecl apply` first")
    if stack.backend == "wml":
        _run_on_wml(stack, rts, observed, training)
    else:
        _run_locally(stack, rts, training_decl, training, aggregator)


def _run_locally(stack: Stack, rts: Declaration, training_decl: Declaration, training: Any, aggregator: str | None) -> None:
    from fldecl.fl import PartyError, run_party
    from fldecl.fl.party import parse_address
    from fldecl.models import build_zip, model_file_of

    address = _aggregator_address(training, aggregator)
    model = declared(stack, f"Model/{training_decl.spec['model']}")
    work_dir = stack.state_dir / "parties" / rts.name / training.id
    work_dir.mkdir(parents=True, exist_ok=True)
    model_zip = work_dir / "initial_model.zip"
    model_zip.write_bytes(build_zip(model.spec, stack.directory))
    reporter = LineReporter()
    try:
        result = run_party(party_settings(stack, rts), training.id, parse_address(address), model_zip,
                           model_file_of(model.spec) or "", model.spec["type"], True, work_dir,
                           lambda event: reporter.progress(rts.address, event.message))
    except (PartyError, ValueError) as exc:
        fail(str(exc))
    reporter.progress(rts.address, f"done; the final model stays here: {getattr(result, 'final_model', work_dir)}")


def _aggregator_address(training: Any, given: str | None) -> str:
    if given:
        return given
    recorded = training.details.get("aggregator")
    if not recorded:
        fail(f"{training.address} has no aggregator running here ({training.status}); pass --aggregator HOST:PORT")
    return f"{recorded['host']}:{recorded['port']}"


def _run_on_wml(stack: Stack, rts: Declaration, observed: dict[str, Any], training: Any) -> None:
    from fldecl.providers.wml.party import run_party as run_wml_party

    run_wml_party(stack, rts, observed, training)
