"""The emulated endpoints, one module per WML concept, merged into one route table."""

from __future__ import annotations

from fldecl.emulator.api import control, identity, models, platform, remote_training_systems, specifications, trainings
from fldecl.emulator.routing import RouteTable


def route_table() -> RouteTable:
    table = RouteTable()
    for module in (control, identity, platform, specifications, models, remote_training_systems, trainings):
        table.extend(module.routes)
    return table
