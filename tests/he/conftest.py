"""Shared fixtures: a CA with three parties, and one level-1 keyring."""

from __future__ import annotations

import pytest

from fldecl.he import SecretKeyring

from .certificates import PARTY_NAMES, Identity, issue, make_ca


@pytest.fixture(scope="session")
def ca() -> Identity:
    return make_ca("fldecl test CA")


@pytest.fixture(scope="session")
def parties(ca: Identity) -> dict[str, Identity]:
    return {name: issue(ca, name) for name in PARTY_NAMES}


@pytest.fixture(scope="session")
def level_1_keyring() -> SecretKeyring:
    return SecretKeyring.generate("encryption_level_1")
