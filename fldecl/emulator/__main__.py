"""The emulator's one command line: ``python -m fldecl.emulator`` and ``fldecl emulator serve`` are this parser.

Run the WML emulator in the foreground on 127.0.0.1 and print the ``export WML_...`` lines a
client needs. Its trainings are WML's, trained by IBM's party runtime against the emulator's
aggregator; ``--simulate-trainings`` makes them up instead, for tests of the REST API alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fldecl.emulator.server import serve

DEFAULT_PORT = 9443


def _error_mix(text: str) -> dict[int, float]:
    """``500=1,503=1,429=2``: injected error statuses and their relative weights."""
    try:
        return {int(status): float(weight) for status, _, weight in
                (item.partition("=") for item in text.split(",") if item.strip())}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STATUS=WEIGHT[,...], got {text!r}") from None


def parse_arguments(argv: list[str] | None = None, prog: str = "python -m fldecl.emulator") -> argparse.Namespace:
    """The knobs, checked: the clock settings apply only to simulated trainings."""
    parser = argparse.ArgumentParser(prog=prog, description="Serve an HTTPS emulator of the WML REST API, with WML's aggregator "
                                     "for IBM's party runtime, on 127.0.0.1 and print the `export WML_...` lines a client "
                                     "needs. `GET /_emulator/stats` counts requests.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    parser.add_argument("--data", type=Path, help="state directory (default: a temporary one)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--api-key", help="default: a random key kept in the data directory")
    parser.add_argument("--password", help="default: a random password kept in the data directory")
    parser.add_argument("--project-id", help="default: a random id kept in the data directory")
    parser.add_argument("--simulate-trainings", action="store_true",
                        help="SIMULATE trainings instead of aggregating real parties: every training completes on a clock "
                             "with made-up metrics even though no party ever joined (for tests of the REST API only)")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument("--training-seconds", type=float,
                       help="with --simulate-trainings: pending -> completed time of a simulated training (default 30)")
    clock.add_argument("--manual-trainings", action="store_true",
                       help="with --simulate-trainings: keep trainings pending until POST /_emulator/trainings/{id}/state")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered with an error")
    parser.add_argument("--error-mix", type=_error_mix, default=None, help="e.g. 500=1,503=1,429=2")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections closed unanswered")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on injected 429s")
    parser.add_argument("--seed", type=int, help="seed of the fault RNG")
    arguments = parser.parse_args(argv)
    if not arguments.simulate_trainings and (arguments.training_seconds is not None or arguments.manual_trainings):
        parser.error("--training-seconds and --manual-trainings apply only with --simulate-trainings")
    return arguments


def knobs(arguments: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "username": arguments.username, "api_key": arguments.api_key, "password": arguments.password,
        "project_id": arguments.project_id,
        "simulate_trainings": arguments.simulate_trainings,
        "training_seconds": None if arguments.manual_trainings else (arguments.training_seconds or 30.0),
        "latency_ms": arguments.latency_ms, "error_rate": arguments.error_rate, "drop_rate": arguments.drop_rate,
        "retry_after_seconds": arguments.retry_after, "seed": arguments.seed}
    if arguments.error_mix is not None:
        settings["error_mix"] = arguments.error_mix
    return settings


def main(argv: list[str] | None = None, prog: str = "python -m fldecl.emulator") -> None:
    arguments = parse_arguments(argv, prog)
    serve(arguments.port, arguments.data, **knobs(arguments))


if __name__ == "__main__":
    main()
