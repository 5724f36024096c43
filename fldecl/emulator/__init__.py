"""A local HTTPS emulator of the WML v4 REST API that IBM's unmodified Python client can drive.

It serves the federated-learning subset fldecl's ``wml`` backend uses (models, remote training
systems, trainings, specifications), keeps state in SQLite, moves trainings through their states
on a clock (simulated, or run for real with a stack's parties by ``StackTrainingRunner``), and can
inject latency, errors and dropped connections.
"""

from fldecl.emulator.faults import FaultConfig
from fldecl.emulator.lifecycle import SimulatedTraining, TrainingRun, TrainingRunner, round_metrics
from fldecl.emulator.server import EmulatorServer, serve
from fldecl.emulator.stack_training import StackTrainingRunner

__all__ = ["EmulatorServer", "FaultConfig", "SimulatedTraining", "StackTrainingRunner", "TrainingRun",
           "TrainingRunner", "round_metrics", "serve"]
