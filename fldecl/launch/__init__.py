"""Launching trainings and parties on this machine, above the core and the federated runtime.

:mod:`.parties` computes a party's settings once from the resources the stack owns;
:mod:`.job` builds a training's job (the aggregator's view and the parties this machine runs). Providers feed them
through the contract's records; none of them knows a backend.
"""
