"""``/_emulator/`` endpoints for tests and CI: statistics, fault settings, forced training states.

They need no token, skip fault injection and are not counted, and the server answers them only
to loopback clients.
"""

from __future__ import annotations

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.faults import FaultConfig
from fldecl.emulator.lifecycle import STATES
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable, not_found

routes = RouteTable()


@routes.get("/_emulator/health", auth=False, control=True)
def health(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, {"status": "ok", "project_id": app.project_id})


@routes.get("/_emulator/stats", auth=False, control=True)
def stats(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, app.stats.snapshot())


@routes.post("/_emulator/stats/reset", auth=False, control=True)
def reset_stats(app: EmulatorApp, request: Request) -> Response:
    app.stats.reset()
    return Response.json(200, app.stats.snapshot())


@routes.get("/_emulator/faults", auth=False, control=True)
def faults(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, app.faults.config.to_json())


@routes.post("/_emulator/faults", auth=False, control=True)
def set_faults(app: EmulatorApp, request: Request) -> Response:
    """Merges the body over the current settings and reseeds the RNG; ``{}`` just reseeds."""
    try:
        config = FaultConfig.from_json(request.json_object(), app.faults.config)
    except (TypeError, ValueError) as error:
        raise ApiError(400, "invalid_fault_settings", str(error)) from error
    app.faults.configure(config)
    return Response.json(200, config.to_json())


@routes.post("/_emulator/trainings/{id}/state", auth=False, control=True)
def force_training_state(app: EmulatorApp, request: Request) -> Response:
    body = request.json_object()
    state = body.get("state")
    if state not in STATES:
        raise ApiError(400, "invalid_state", f"Unknown state {state!r}; expected one of {', '.join(STATES)}.")
    metrics = body.get("metrics")
    if metrics is not None and not isinstance(metrics, list):
        raise ApiError(400, "invalid_metrics", "'metrics' must be a list of per-round entries.")
    training = app.trainings.force(request.params["id"], state, body.get("message"), metrics)
    if training is None:
        raise not_found("Training", request.params["id"])
    return Response.json(200, training)
