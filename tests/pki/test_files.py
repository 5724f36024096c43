"""Key files are written atomically and owner-only, whatever the umask and whatever fails midway."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fldecl.pki import files
from fldecl.pki.keys import generate_private_key, private_key_pem


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_private_files_are_owner_only_even_with_a_permissive_umask(permissive_umask: None, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "key.pem"
    files.write_atomically(path, b"secret", files.PRIVATE_KEY_FILE_MODE)
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rewriting_a_world_readable_file_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    files.write_atomically(path, b"new", files.PRIVATE_KEY_FILE_MODE)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["key.pem"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        files.write_atomically(path, b"new", files.PRIVATE_KEY_FILE_MODE)
    assert path.read_bytes() == b"old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["key.pem"]


def test_a_keys_rsa_check_is_remembered_for_its_bytes_only() -> None:
    """One process loads the same key file several times and checks it once; other bytes are checked, a failure is not remembered."""
    key = generate_private_key()
    numbers = key.private_numbers()
    inconsistent = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d, numbers.dmp1 ^ 2, numbers.dmq1, numbers.iqmp,
                                         numbers.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    for _ in range(2):
        assert files.private_key_from_pem(private_key_pem(key)).private_numbers() == numbers
        with pytest.raises(ValueError):
            files.private_key_from_pem(private_key_pem(inconsistent))
