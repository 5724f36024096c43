"""A local HTTPS emulator of the WML v4 REST API that IBM's unmodified Python client can drive.

It serves the federated-learning subset fldecl's ``wml`` backend uses (models, remote training
systems, trainings, specifications) and WML's aggregator, which IBM's unmodified party runtime
trains against over a websocket; it keeps state in SQLite and can inject latency, errors and
dropped connections. Trainings with no party never complete, unless the emulator is asked to
simulate them. It stands alone: it imports nothing of fldecl but itself, so it tests the wml
provider instead of sharing its code.
"""

from fldecl.emulator.documents import FederatedTraining, StoredModel
from fldecl.emulator.faults import FaultConfig
from fldecl.emulator.lifecycle import SimulatedTraining, TrainingRun, TrainingRunner, round_metrics
from fldecl.emulator.server import EmulatorServer, serve

__all__ = ["EmulatorServer", "FaultConfig", "FederatedTraining", "SimulatedTraining", "StoredModel", "TrainingRun",
           "TrainingRunner", "round_metrics", "serve"]
