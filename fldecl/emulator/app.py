"""The services a request handler may use, bundled so handlers stay plain functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fldecl.emulator.auth import Account, TokenAuthority
from fldecl.emulator.faults import FaultInjector, RequestStats
from fldecl.emulator.lifecycle import TrainingLifecycle
from fldecl.emulator.state import Store

if TYPE_CHECKING:
    from fldecl.emulator.aggregator import Aggregator


@dataclass
class EmulatorApp:
    store: Store
    account: Account
    tokens: TokenAuthority
    faults: FaultInjector
    stats: RequestStats
    trainings: TrainingLifecycle
    project_id: str
    aggregator: Aggregator | None = None
