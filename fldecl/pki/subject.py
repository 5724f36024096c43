"""X.509 names in the manifests' vocabulary (``common_name``, ``organization``, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from cryptography import x509
from cryptography.x509.oid import NameOID

from fldecl.pki.errors import PKIError

# Manifest key -> OID, in the conventional order C, ST, L, O, OU, CN.
_MANIFEST_KEY_OIDS = {
    "country": NameOID.COUNTRY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizational_unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "common_name": NameOID.COMMON_NAME,
    # Not a manifest field: NVIDIA FLARE reads an admin user's role from it.
    "unstructured_name": NameOID.UNSTRUCTURED_NAME,
}
_OID_MANIFEST_KEYS = {oid: key for key, oid in _MANIFEST_KEY_OIDS.items()}


@dataclass(frozen=True)
class Subject:
    """The subject of a CA or party certificate, as a manifest's ``spec.subject`` declares it."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    unstructured_name: str | None = None

    def __post_init__(self) -> None:
        # Fail here, with the field's name, rather than deep inside certificate building.
        if not self.common_name:
            raise PKIError("subject needs a non-empty common_name")
        if self.country is not None and not (len(self.country) == 2 and self.country.isalpha()):
            raise PKIError(f"subject country must be a two-letter code, got {self.country!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, str]) -> Subject:
        """Build from a manifest's ``subject`` mapping; unknown keys are an error, not ignored."""
        unknown = sorted(set(values) - {field.name for field in fields(cls)})
        if unknown:
            raise PKIError(f"unknown subject field(s): {', '.join(unknown)}")
        if "common_name" not in values:
            raise PKIError("subject needs a common_name")
        return cls(**values)

    def to_dict(self) -> dict[str, str]:
        """The manifest mapping, without the fields that are not set."""
        return {field.name: value for field in fields(self) if (value := getattr(self, field.name)) is not None}

    def to_x509_name(self) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(oid, value)
                for key, oid in _MANIFEST_KEY_OIDS.items()
                if (value := getattr(self, key)) is not None
            ]
        )


def name_to_dict(name: x509.Name) -> dict[str, str]:
    """A certificate's name keyed like a manifest subject, so plans can compare the two directly.

    Attributes outside the manifest vocabulary keep their RFC 4514 short name (or dotted OID).
    """
    return {
        _OID_MANIFEST_KEYS.get(attribute.oid, attribute.rfc4514_attribute_name): str(attribute.value)
        for attribute in name
    }


def describe_name(name: x509.Name) -> str:
    """``CN=<common name>`` when there is one (what people recognise), else the full RFC 4514 name."""
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        value = common_names[0].value
        return f"CN={value.decode() if isinstance(value, bytes) else value}"
    return name.rfc4514_string() or "<empty name>"
