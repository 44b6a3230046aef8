"""Uploaded documents: what content is allowed, how big it may be, and where it is kept.

Content is judged by its first bytes (magic numbers), never by the file name or the type the client
claims: a ``.pdf`` that starts with ``MZ`` is a Windows program. Files are stored once per content,
under ``{data_dir}/files/{sha256[:2]}/{sha256}``.

Checking and storing are two passes over the upload (which the HTTP layer has already spooled to a
temporary file): :func:`inspect_upload` reads it in chunks to sniff, measure and hash it, and writes
nothing; :class:`FileStore` writes it only after every rule of the dossier has passed. So rejected
content never reaches the store.

Content written for a transaction that then failed, and temporaries a crash left behind, are
deleted by the hourly retention pass (``services.intake.file_retention``) once they are older than a
grace period. Saving content that is already there refreshes its age, so the pass never takes a file
that a transaction in flight is about to refer to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.private_files import FILE_MODE, private_dir

MIB = 1024 * 1024
# Enough for every signature below; also what is shown of unknown content in an error.
SNIFF_BYTES = 16
# How a file being written is named until it is renamed to its sha256.
INCOMING_PREFIX = ".incoming-"
_HEX = frozenset("0123456789abcdef")

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"

_ALLOWED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)

# What common refused content is, to tell the citizen what we saw instead of "unknown".
_REFUSED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive (or a DOCX/XLSX/ODT document)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP image, WAV or AVI)"),
    (b"{\\rtf", "an RTF document"),
)

_MEDIA_TYPE_NAMES = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", TIFF: "TIFF"}


class FileSettings(BaseSettings):
    """Limits on uploaded documents (``MOTCUA_INTAKE_FILES_*``)."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_INTAKE_FILES_", extra="ignore")

    max_file_bytes: int = Field(default=10 * MIB, gt=0)
    max_dossier_bytes: int = Field(default=50 * MIB, gt=0)
    # TIFF is what many office scanners produce; a province may want PDF/PNG/JPEG only.
    allow_tiff: bool = True
    chunk_bytes: int = Field(default=256 * 1024, ge=SNIFF_BYTES)
    # How old an unreferenced stored file or an abandoned temporary must be before retention deletes
    # it: far longer than any upload and its transaction take, so an upload in flight keeps its file.
    orphan_grace_seconds: float = Field(default=3600.0, ge=60)

    @property
    def allowed_media_types(self) -> frozenset[str]:
        allowed = {PDF, PNG, JPEG}
        if self.allow_tiff:
            allowed.add(TIFF)
        return frozenset(allowed)

    def request_budget(self) -> int:
        """How many bytes a whole multipart request may carry: the files plus room for the dossier
        JSON and the part headers. The limits per file and per dossier are checked on the files."""
        return self.max_dossier_bytes + 2 * MIB


def sniff(head: bytes) -> str | None:
    """The media type of an allowed kind of content from its first bytes, or ``None``."""
    for signature, media_type in _ALLOWED_SIGNATURES:
        if head.startswith(signature):
            return media_type
    return None


def describe(head: bytes) -> str:
    """What the first bytes look like, in words for an error message."""
    if not head:
        return "an empty file"
    media_type = sniff(head)
    if media_type is not None:
        return f"a {_MEDIA_TYPE_NAMES[media_type]} file"
    for signature, name in _REFUSED_SIGNATURES:
        if head.startswith(signature):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")):
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<svg"):
        return "an XML/SVG document"
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "plain text"
    return f"unrecognised content (starts with {head[:8].hex(' ')})"


def allowed_names(settings: FileSettings) -> str:
    allowed = settings.allowed_media_types
    return ", ".join(name for media_type, name in _MEDIA_TYPE_NAMES.items() if media_type in allowed)


def human_size(size: int) -> str:
    """``1536`` → ``1,5 KB``: sizes as a Vietnamese reader writes them (decimal comma)."""
    if size < 1024:
        return f"{size} B"
    value, unit = (size / 1024, "KB") if size < MIB else (size / MIB, "MB")
    return f"{value:.1f}".replace(".", ",").removesuffix(",0") + f" {unit}"


class Readable(Protocol):
    """An uploaded file as the HTTP layer holds it (Starlette's ``UploadFile`` is one)."""

    async def read(self, size: int = -1) -> bytes: ...

    async def seek(self, offset: int) -> Any: ...


class UploadRejected(ValueError):
    """An uploaded part breaks a rule; ``part`` names it, ``too_large`` tells 413 from 422."""

    def __init__(self, part: str, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.part = part
        self.too_large = too_large


@dataclass(frozen=True)
class Upload:
    """An uploaded document that passed the content and size checks, not yet stored."""

    part: str
    filename: str | None
    sha256: str
    size: int
    media_type: str
    source: Readable


async def inspect_upload(
    *, part: str, filename: str | None, source: Readable, settings: FileSettings, budget_left: int
) -> Upload:
    """Sniff, measure and hash an upload in chunks, stopping as soon as it breaks a limit.

    ``budget_left`` is what the dossier may still carry after the files before this one.
    """
    await source.seek(0)
    head = await source.read(settings.chunk_bytes)
    media_type = sniff(head)
    if media_type is None or media_type not in settings.allowed_media_types:
        raise UploadRejected(
            part,
            f"{part} ({filename or 'no file name'}) is {describe(head[:SNIFF_BYTES])}; "
            f"allowed are {allowed_names(settings)} files, recognised by their content",
        )
    digest = hashlib.sha256()
    size = 0
    limit = min(settings.max_file_bytes, budget_left)
    chunk = head
    while chunk:
        size += len(chunk)
        if size > limit:
            if size > settings.max_file_bytes:
                message = f"{part} is larger than the {human_size(settings.max_file_bytes)} allowed per file"
            else:
                message = (
                    f"{part} takes the dossier past the {human_size(settings.max_dossier_bytes)} "
                    "allowed for all its files together"
                )
            raise UploadRejected(part, message, too_large=True)
        digest.update(chunk)
        chunk = await source.read(settings.chunk_bytes)
    return Upload(
        part=part,
        filename=filename,
        sha256=digest.hexdigest(),
        size=size,
        media_type=media_type,
        source=source,
    )


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(char in _HEX for char in name)


class FileStore:
    """Content-addressed files under ``root``: one file per sha256, written once, never changed."""

    def __init__(self, root: Path, *, chunk_bytes: int = 256 * 1024) -> None:
        self.root = root
        self.chunk_bytes = chunk_bytes

    @classmethod
    def in_data_dir(cls, data_dir: Path, settings: FileSettings) -> FileStore:
        """The service's store: ``{data_dir}/files``, on a volume every intake replica shares."""
        return cls(data_dir / "files", chunk_bytes=settings.chunk_bytes)

    def path(self, sha256: str) -> Path:
        if not _is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def _folders(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if len(folder.name) == 2 and set(folder.name) <= _HEX and folder.is_dir():
                yield folder

    def contents(self) -> Iterator[tuple[str, Path]]:
        """Every stored file with its sha256; nothing else found under ``root`` is listed."""
        for folder in self._folders():
            for path in folder.iterdir():
                if _is_sha256(path.name) and path.name.startswith(folder.name):
                    yield path.name, path

    def incoming(self) -> Iterator[Path]:
        """Temporaries: of uploads being written now, or left behind by a crash mid-write."""
        for folder in self._folders():
            yield from folder.glob(f"{INCOMING_PREFIX}*")

    @staticmethod
    def remove_if_older(path: Path, cutoff: float) -> bool:
        """Delete ``path`` if it was last written (or reused) before ``cutoff``, a ``time.time()``.

        Its age is read again at the last moment: content an upload reused since it was listed has
        just been touched, and stays."""
        try:
            if path.stat().st_mtime >= cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False  # another replica's pass took it first
        return True

    async def save(self, upload: Upload) -> Path:
        """Write the upload under its sha256 unless that content is already there.

        It goes to a temporary file in the target folder first and is renamed into place, so a
        reader never sees half a file and two concurrent uploads of the same content both end with
        the same complete file.
        """
        target = self.path(upload.sha256)
        try:
            # Already stored: touching it restarts its grace period, so that retention does not
            # take it as unreferenced before this upload's transaction commits its row.
            os.utime(target)
            # A file stored before documents were private becomes so when it is used again.
            os.chmod(target, FILE_MODE)
            return target
        except FileNotFoundError:
            pass
        # Each level made private in turn: a parent created on the way would take the umask.
        await asyncio.to_thread(private_dir, self.root)
        await asyncio.to_thread(private_dir, target.parent)
        # mkstemp creates it at 0600 whatever the umask; the chmod below says so, not relies on it.
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=INCOMING_PREFIX)
        try:
            digest = hashlib.sha256()
            with os.fdopen(descriptor, "wb") as handle:
                await upload.source.seek(0)
                while chunk := await upload.source.read(self.chunk_bytes):
                    digest.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(handle.flush)
                await asyncio.to_thread(os.fsync, handle.fileno())
            if digest.hexdigest() != upload.sha256:
                raise RuntimeError(f"{upload.part} changed between its check and its storage")
            # Citizens' identity papers: readable by the service's user only.
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return target
