"""Writing a file in one step: a reader (another process, the next run) sees the old file or the complete
new one, never half of one, and a crash leaves at most a stray hidden temporary file.

Every writer of fldecl uses it: key and certificate files, party data, models, training status.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Owner-only: private keys, party data, models and statuses are nobody else's business.
PRIVATE_FILE_MODE = 0o600


def write_atomically(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``, creating its directory if needed.

    The temporary file has ``mode`` from its creation (whatever the umask), so a private file is never
    readable by others, not even for an instant. ``durable`` flushes file and rename to disk before
    returning (about 10 ms): what cannot be made again, such as a key, must survive a power loss; a
    status rewritten at every event of a training need not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # the umask may have removed bits we want
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself, so the new file survives a power loss."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
