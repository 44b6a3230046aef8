"""Files and folders only the service's own user may read: the data folder, stored documents and
generated secrets. Modes are given when a file or folder is created and checked afterwards, so that
nothing depends on the process's umask."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) at 0700, or take an existing folder of ours back to
    0700 when group or others can reach into it. Folders above ``path`` that already exist keep
    their modes: they are the operator's."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    status = path.stat()
    if stat.S_IMODE(status.st_mode) != FOLDER_MODE and status.st_uid == os.geteuid():
        path.chmod(FOLDER_MODE)
    return path


def create_private_file(path: Path, content: str) -> bool:
    """Write ``content`` to a new file at 0600; False, writing nothing, when the file exists already.

    The content goes to a temporary created with ``O_EXCL`` at 0600 (the mode is there from the
    first byte, never set afterwards), which is then linked into place: ``link`` fails if the file
    exists, so of several processes racing to create it one wins, and none ever reads it half
    written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            # A umask can only take bits away from 0600; fchmod makes the mode exact all the same.
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True
