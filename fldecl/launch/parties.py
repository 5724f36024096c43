"""A party's settings, computed once from the resources the stack owns, for every room that runs one.

The local backend's trainings, ``fldecl party run`` on both backends and the emulator's stack
trainings all call :func:`party_settings`: the party's remote training system names its
certificate, the certificate names the CA that issued it, and paths are resolved in the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fldecl.core.contract import Observed
from fldecl.core.plan import resolve_references
from fldecl.core.stack import Stack
from fldecl.fl.training_job import PartySettings
from fldecl.kinds.certificates import CERTIFICATE_AUTHORITY, PARTY_CERTIFICATE
from fldecl.launch.errors import LaunchError


@dataclass(frozen=True)
class PartyIdentity:
    """A party's remote training system, the certificate it names and the CA that issued that certificate."""

    rts: Observed
    certificate: Observed
    authority: Observed

    def cert_file(self, stack_dir: Path) -> Path:
        return stack_dir / str(self.certificate.attributes["cert_file"])


def party_identity(rts: Observed, related: Mapping[str, Observed]) -> PartyIdentity:
    """Follow the references of ``rts`` through ``related`` (the stack's resources by id)."""
    party = rts.attributes.get("party")
    if not party:
        raise LaunchError(f"{rts.address} declares no party settings (spec.party: certificate and data_handler)")
    certificate = _related(related, party["certificate"], PARTY_CERTIFICATE.name, rts)
    authority = _related(related, certificate.attributes["issuer"], CERTIFICATE_AUTHORITY.name, certificate)
    return PartyIdentity(rts, certificate, authority)


def party_settings(identity: PartyIdentity, stack_dir: Path, key_file: Path | None = None) -> PartySettings:
    """What the party process needs: its key, certificate and CA, and its data handler, resolved in the stack.

    ``key_file`` is the party's own key, for a certificate that fldecl issued from the party's
    CSR (its key never entered the stack).
    """
    certificate, rts = identity.certificate, identity.rts
    key = str(key_file) if key_file else certificate.attributes.get("key_file")
    if not key:
        raise LaunchError(f"{certificate.address} signs a CSR, so the party's private key is not in the stack; "
                          "give the party's own key with --key-file")
    handler = rts.attributes["party"]["data_handler"]
    return PartySettings(rts.name, str(identity.cert_file(stack_dir)), str(stack_dir / key),
                         str(stack_dir / identity.authority.attributes["cert_file"]), str(stack_dir / handler["path"]),
                         handler["name"], handler.get("info", {}), str(stack_dir))


def runs_here(rts: Observed) -> bool:
    """``launch: auto``: the local backend starts this party itself; ``manual`` parties join by hand."""
    return bool((rts.attributes.get("party") or {}).get("launch", "auto") != "manual")


def declared_resources(stack: Stack) -> dict[str, Observed]:
    """The stack's declarations as resources whose ids are their addresses, for a launcher that has only the manifests."""
    addresses = {address: address for address in stack.declarations}
    return {decl.address: Observed(decl.kind, decl.name, decl.address, stack.all_tags,
                                   resolve_references(decl.kind, decl.name, decl.spec, addresses))
            for decl in stack.declarations.values()}


def _related(related: Mapping[str, Observed], resource_id: Any, kind: str, referrer: Observed) -> Observed:
    found = related.get(resource_id)
    if found is None or found.kind != kind:
        raise LaunchError(f"the {kind} {resource_id} that {referrer.address} names does not exist; run `fldecl apply` first")
    return found
