"""WML's federated aggregator, as IBM's party runtime expects it: a websocket per party on the emulator's HTTPS port."""

from fldecl.emulator.aggregator.session import Aggregator, FederatedSession, RoundTraffic

__all__ = ["Aggregator", "FederatedSession", "RoundTraffic"]
