"""Electronic results (kết quả điện tử): the PDF an officer attaches when approving a dossier.

Judged by its first bytes, never by its name or claimed type, as intake judges uploads: a result is a
PDF or nothing. Kept once per content under ``{data_dir}/results/{sha256[:2]}/{sha256}``, files 0600
in folders 0700. Content stored for an approval whose transaction then failed stays, unreferenced:
it is the same bytes the officer will attach again."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.errors import Invalid
from shared.events import DocumentRef
from shared.private_files import FILE_MODE, private_dir

PDF = "application/pdf"
MIB = 1024 * 1024
MAX_RESULT_BYTES = 10 * MIB
_SHA256_HEX = 64


class RefusedResult(Invalid):
    """The attached result is not a PDF, is empty or is too large; the message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message, loc=("body", "result_file"))


def checked_pdf(content: bytes, *, max_bytes: int = MAX_RESULT_BYTES) -> bytes:
    if not content:
        raise RefusedResult("the result file is empty")
    if len(content) > max_bytes:
        raise RefusedResult(f"the result file is larger than {max_bytes // MIB} MiB")
    if not content.startswith(b"%PDF-"):
        raise RefusedResult("the result must be a PDF document")
    return content


@dataclass(frozen=True)
class ResultFiles:
    root: Path

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != _SHA256_HEX or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256

    def save(self, name: str, content: bytes) -> DocumentRef:
        """Store ``content`` (a checked PDF) and describe it as the dossier's result ``name``."""
        checked_pdf(content)
        digest = hashlib.sha256(content).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            private_dir(self.root)
            private_dir(path.parent)
            temporary = path.with_name(f".incoming-{secrets.token_hex(6)}")
            descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    os.fchmod(handle.fileno(), FILE_MODE)
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        return DocumentRef(name=name, kind="digital", sha256=digest, media_type=PDF, size=len(content))

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()


def result_files_in(data_dir: Path) -> ResultFiles:
    return ResultFiles(data_dir / "results")
