"""Uploaded documents are judged by their content, measured in chunks, and stored once per sha256."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from services.intake.files import (
    JPEG,
    PDF,
    PNG,
    TIFF,
    FileSettings,
    FileStore,
    Upload,
    UploadRejected,
    describe,
    human_size,
    inspect_upload,
    sniff,
)
from tests.samples import PDF_DOCUMENT, png


class MemoryUpload:
    """An upload held in memory, read the way the HTTP layer's spooled file is."""

    def __init__(self, content: bytes) -> None:
        self.buffer = io.BytesIO(content)
        self.reads: list[int] = []

    async def read(self, size: int = -1) -> bytes:
        data = self.buffer.read(size)
        self.reads.append(len(data))
        return data

    async def seek(self, offset: int) -> int:
        return self.buffer.seek(offset)


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (PDF_DOCUMENT, PDF),
        (png(), PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", JPEG),
        (b"II*\x00\x08\x00\x00\x00", TIFF),
        (b"MM\x00*\x00\x00\x00\x08", TIFF),
    ],
)
def test_allowed_content_is_recognised_by_its_magic_bytes(head: bytes, media_type: str) -> None:
    assert sniff(head) == media_type


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "Windows executable"),
        (b"\x7fELF\x02\x01\x01", "Linux executable"),
        (b"<!DOCTYPE html><html>", "HTML page"),
        (b"  <html><body>", "HTML page"),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"GIF89a", "GIF image"),
        (b"hello, world", "plain text"),
        (b"", "empty file"),
        (b"\x00\x01\x02\x03", "unrecognised content (starts with 00 01 02 03)"),
        (b" %PDF-1.4", "plain text"),
    ],
)
def test_other_content_is_refused_and_named(head: bytes, words: str) -> None:
    assert sniff(head) is None
    assert words in describe(head)


def test_sizes_read_the_vietnamese_way() -> None:
    assert human_size(900) == "900 B"
    assert human_size(1536) == "1,5 KB"
    assert human_size(2048) == "2 KB"
    assert human_size(10 * 1024 * 1024) == "10 MB"


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_FILE_BYTES", "MAX_DOSSIER_BYTES", "ALLOW_TIFF"):
        monkeypatch.delenv(f"MOTCUA_INTAKE_FILES_{name}", raising=False)
    defaults = FileSettings()
    assert (defaults.max_file_bytes, defaults.max_dossier_bytes) == (10 * 1024 * 1024, 50 * 1024 * 1024)
    assert defaults.allowed_media_types == {PDF, PNG, JPEG, TIFF}

    monkeypatch.setenv("MOTCUA_INTAKE_FILES_MAX_FILE_BYTES", "1234")
    monkeypatch.setenv("MOTCUA_INTAKE_FILES_MAX_DOSSIER_BYTES", "5678")
    monkeypatch.setenv("MOTCUA_INTAKE_FILES_ALLOW_TIFF", "false")
    settings = FileSettings()
    assert (settings.max_file_bytes, settings.max_dossier_bytes) == (1234, 5678)
    assert settings.allowed_media_types == {PDF, PNG, JPEG}


async def test_an_upload_is_hashed_and_measured_in_chunks() -> None:
    content = PDF_DOCUMENT + b"x" * 5000
    source = MemoryUpload(content)
    upload = await inspect_upload(
        part="document_0",
        filename="to-khai.pdf",
        source=source,
        settings=FileSettings(chunk_bytes=1024),
        budget_left=10**6,
    )
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert (upload.size, upload.media_type, upload.filename) == (len(content), PDF, "to-khai.pdf")
    assert max(source.reads) <= 1024


async def test_a_pdf_name_does_not_make_an_executable_a_pdf() -> None:
    with pytest.raises(UploadRejected) as caught:
        await inspect_upload(
            part="document_1",
            filename="to-khai.pdf",
            source=MemoryUpload(b"MZ\x90\x00" + b"\x00" * 100),
            settings=FileSettings(),
            budget_left=10**6,
        )
    assert caught.value.part == "document_1" and not caught.value.too_large
    assert "document_1" in str(caught.value) and "Windows executable" in str(caught.value)


async def test_tiff_can_be_switched_off() -> None:
    with pytest.raises(UploadRejected, match="a TIFF file; allowed are PDF, PNG, JPEG files"):
        await inspect_upload(
            part="document_0",
            filename="scan.tif",
            source=MemoryUpload(b"II*\x00" + b"\x00" * 100),
            settings=FileSettings(allow_tiff=False),
            budget_left=10**6,
        )


async def test_reading_stops_as_soon_as_a_file_is_too_large() -> None:
    source = MemoryUpload(PDF_DOCUMENT + b"x" * 100_000)
    with pytest.raises(UploadRejected, match="larger than the 2 KB allowed per file") as caught:
        await inspect_upload(
            part="document_0",
            filename="big.pdf",
            source=source,
            settings=FileSettings(max_file_bytes=2048, chunk_bytes=1024),
            budget_left=10**6,
        )
    assert caught.value.too_large
    assert sum(source.reads) <= 3 * 1024


async def test_a_file_within_its_own_limit_can_still_overflow_the_dossier() -> None:
    with pytest.raises(UploadRejected, match="allowed for all its files together") as caught:
        await inspect_upload(
            part="document_3",
            filename="b.pdf",
            source=MemoryUpload(PDF_DOCUMENT + b"x" * 1500),
            settings=FileSettings(max_file_bytes=4096, max_dossier_bytes=6000, chunk_bytes=1024),
            budget_left=1000,
        )
    assert caught.value.too_large


async def test_the_store_keeps_one_file_per_content_even_under_concurrent_writes(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", chunk_bytes=64)
    content = png() * 20
    settings = FileSettings(chunk_bytes=64)

    async def upload() -> Path:
        checked = await inspect_upload(
            part="document_0",
            filename="a.png",
            source=MemoryUpload(content),
            settings=settings,
            budget_left=10**6,
        )
        return await store.save(checked)

    paths = await asyncio.gather(*(upload() for _ in range(8)))
    sha = hashlib.sha256(content).hexdigest()
    assert set(paths) == {tmp_path / "files" / sha[:2] / sha}
    assert paths[0].read_bytes() == content
    assert [path.name for path in (tmp_path / "files").rglob("*") if path.is_file()] == [sha]
    assert store.has(sha)


async def test_storing_content_already_there_restarts_its_grace_period(tmp_path: Path) -> None:
    """An upload that reuses stored content refers to it once its transaction commits: until then,
    retention must not take the file for unreferenced, however old it was."""
    store = FileStore(tmp_path / "files", chunk_bytes=64)
    settings = FileSettings(chunk_bytes=64)

    async def checked() -> Upload:
        source = MemoryUpload(PDF_DOCUMENT)
        return await inspect_upload(
            part="document_0", filename="a.pdf", source=source, settings=settings, budget_left=10**6
        )

    path = await store.save(await checked())
    long_ago = time.time() - 2 * settings.orphan_grace_seconds
    os.utime(path, (long_ago, long_ago))
    assert await store.save(await checked()) == path
    assert not FileStore.remove_if_older(path, time.time() - settings.orphan_grace_seconds)
    assert path.read_bytes() == PDF_DOCUMENT


def test_the_store_refuses_a_path_that_is_not_a_sha256(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(ValueError, match="not a sha256"):
        store.path("../../etc/passwd")


async def test_stored_documents_are_0600_in_0700_folders_whatever_the_umask(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", chunk_bytes=64)
    previous = os.umask(0)
    try:
        checked = await inspect_upload(
            part="document_0",
            filename="a.pdf",
            source=MemoryUpload(PDF_DOCUMENT),
            settings=FileSettings(chunk_bytes=64),
            budget_left=10**6,
        )
        path = await store.save(checked)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "files").stat().st_mode & 0o777 == 0o700


async def test_a_document_stored_readable_by_all_becomes_private_when_reused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", chunk_bytes=64)

    async def checked() -> Upload:
        return await inspect_upload(
            part="document_0",
            filename="a.pdf",
            source=MemoryUpload(PDF_DOCUMENT),
            settings=FileSettings(chunk_bytes=64),
            budget_left=10**6,
        )

    path = await store.save(await checked())
    path.chmod(0o644)
    await store.save(await checked())
    assert path.stat().st_mode & 0o777 == 0o600
