"""Writing a file in one step: a reader (another process, the next run) sees the old file or the complete
new one, never half of one, and a crash leaves at most a stray hidden temporary file.

Every writer of fldecl uses it: key and certificate files, party data, models, training status.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Owner-only: private keys, party data, models and statuses are nobody else's business.
PRIVATE_FILE_MODE = 0o600


def write_atomically(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``data``, creating its directory if needed.

    The temporary file has ``mode`` from its creation (whatever the umask), so a private file is never
    readable by others, not even for an instant; file and rename are flushed to disk before returning.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # the umask may have removed bits we want
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself, so the new file survives a power loss."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
