"""Byte-reproducible zip files.

A zip normally records the time it was written and the writer's OS, so two builds of the same
content differ. Model zips and party npz files are compared by hash to decide replacement and to
detect drift, so every member gets fixed metadata and is stored uncompressed (deflate output can
change with the zlib version).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fldecl.models.errors import ModelError

SAVED_MODEL_FILE = "saved_model.pb"  # a TensorFlow SavedModel's graph; its directory holds the rest
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record
_UNIX = 3
_FILE_MODE_RW_R_R = 0o100644


def deterministic_zip(members: dict[str, bytes]) -> bytes:
    """Zip ``members`` (name -> bytes) in the given order with fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE_TIME)
            info.create_system = _UNIX
            info.external_attr = _FILE_MODE_RW_R_R << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def read_member(zip_bytes: bytes, name: str, origin: str) -> bytes:
    """Return member ``name`` of a zip; ``origin`` names the zip in error messages."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            problem = _missing_member(archive, name, origin)
            if problem:
                raise ModelError(problem)
            if name not in archive.namelist():
                raise ModelError(f"{origin} holds {name!r} as a directory, not a file")
            return archive.read(name)
    except zipfile.BadZipFile as error:
        raise ModelError(f"{origin} is not a valid zip file: {error}") from error


def read_model_members(zip_bytes: bytes, name: str, origin: str) -> dict[str, bytes]:
    """The members that hold the model ``name``: that file, every file under that directory, or the
    directory of a SavedModel whose ``saved_model.pb`` it names."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            problem = _missing_member(archive, name, origin)
            if problem:
                raise ModelError(problem)
            return {member: archive.read(member) for member in archive.namelist() if belongs_to_model(member, name)}
    except zipfile.BadZipFile as error:
        raise ModelError(f"{origin} is not a valid zip file: {error}") from error


def saved_model_directory(name: str) -> str | None:
    """The directory of the SavedModel whose ``saved_model.pb`` ``name`` is ("" at the zip's root), else None."""
    directory, _, file_name = name.rpartition("/")
    return directory if file_name == SAVED_MODEL_FILE else None


def model_directory(name: str) -> str:
    """Where a model's members are named from: a SavedModel's directory, else ``name`` itself."""
    directory = saved_model_directory(name)
    return name.rstrip("/") if directory is None else directory


def holds_model_file(members: list[str], name: str) -> bool:
    """Whether a zip of ``members`` has ``name``, as a file or as a directory of files."""
    if saved_model_directory(name) is not None:
        return name in members
    return any(belongs_to_model(member, name) for member in members)


def belongs_to_model(member: str, name: str) -> bool:
    """Whether zip member ``member`` is part of the model ``name`` (see :func:`read_model_members`)."""
    if member.endswith("/"):
        return False
    directory = model_directory(name)
    return member == name or directory == "" or member.startswith(directory + "/")


def zip_members(zip_bytes: bytes) -> list[str]:
    """The names in a zip (none for bytes that are not a zip)."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def zip_member_problem(path: Path, name: str) -> str | None:
    """Why the zip at ``path`` cannot serve ``name`` (not a zip, or no such file at its root), else None.

    Reads only the zip's directory, so ``validate`` can check a model zip before anything is stored.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return _missing_member(archive, name, str(path))
    except (zipfile.BadZipFile, OSError) as error:
        return f"{path} is not a readable zip file: {error}"


def _missing_member(archive: zipfile.ZipFile, name: str, origin: str) -> str | None:
    names = archive.namelist()
    if holds_model_file(names, name):
        return None
    return (f"{origin} has no {name!r} at its root (it holds: {', '.join(names) or 'nothing'}); "
            "set model_file to the file that holds the model")
