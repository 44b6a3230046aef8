"""The citizen's side of a dossier, through the whole running system on the in-process bus:
submitting with files, the printable receipt, the status lookup with its history, and the
citizen's actions (supplement, withdrawal, rating)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from services.intake import receipt
from services.intake.files import FileSettings
from services.intake.models import Dossier, DossierDocument, StoredFile
from shared.events import DossierStatus
from shared.working_time import VN_TZ
from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT as PDF
from tests.samples import png
from tests.system import APPLICANT, System, citizen_headers, submission

FORM = "Tờ khai đăng ký khai sinh"
BIRTH_NOTE = "Giấy chứng sinh hoặc văn bản của người làm chứng"
OTHER_CITIZEN = "001099000001"

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def with_documents(*documents: dict[str, Any], **applicant: Any) -> dict[str, Any]:
    return {**submission(**applicant), "documents": list(documents)}


async def submit_with_files(
    system: System, body: dict[str, Any], files: dict[str, tuple[str, bytes, str]], **headers: str
) -> httpx.Response:
    return await system.intake.post(
        "/api/v1/dossiers", data={"dossier": json.dumps(body)}, files=files, headers=headers
    )


async def lookup(system: System, code: str, id_number: str = APPLICANT["id_number"]) -> httpx.Response:
    return await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers(id_number))


def files_root(system: System) -> Path:
    return system.runtime("intake").settings.common.data_dir / "files"


def stored_blobs(system: System) -> list[Path]:
    root = files_root(system)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def count(system: System, table: Any, *where: Any) -> int:
    async with system.runtime("intake").db.reading() as session:
        statement = select(func.count()).select_from(table)
        for clause in where:
            statement = statement.where(clause)
        return int((await session.execute(statement)).scalar_one())


async def outbox_rows(system: System, subject: str) -> list[dict[str, Any]]:
    runtime = system.runtime("intake")
    table = runtime.outbox.table
    async with runtime.db.reading() as session:
        rows = (await session.execute(select(table).where(table.c.subject == subject))).mappings().all()
    return [dict(row) for row in rows]


async def payloads(system: System, subject: str) -> list[dict[str, Any]]:
    return [json.loads(row["payload"]) for row in await outbox_rows(system, subject)]


async def assert_nothing_stored(system: System) -> None:
    outbox = system.runtime("intake").outbox.table
    assert await count(system, Dossier) == 0
    assert await count(system, DossierDocument) == 0
    assert await count(system, StoredFile) == 0
    assert await count(system, outbox, outbox.c.subject == "dossier.submitted") == 0
    assert stored_blobs(system) == []


async def set_status(system: System, code: str, status: DossierStatus, **changes: Any) -> None:
    """Put intake's status copy where processing would have put it.

    Processing's side of supplement requests and returned results is being built at the same time
    as this test; until it is, the test sets the copy directly, as the projection would.
    """
    async with system.runtime("intake").db.session() as session:
        dossier = await session.get(Dossier, code)
        assert dossier is not None
        dossier.status = status
        for name, value in changes.items():
            setattr(dossier, name, value)
        session.add(dossier)


# -- submission with files ------------------------------------------------------------------------
async def test_files_sent_with_a_dossier_are_stored_once_by_their_sha256(system: System) -> None:
    image = png()
    body = with_documents({"name": FORM, "kind": "digital"}, {"name": BIRTH_NOTE, "kind": "scan"})
    first = await submit_with_files(
        system,
        body,
        {
            "document_0": ("to-khai.pdf", PDF, "application/pdf"),
            # The client's claimed type is not believed: the content says PNG.
            "document_1": ("giay-chung-sinh.png", image, "application/octet-stream"),
        },
    )
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["status"] == 1
    documents = {document["name"]: document for document in created["documents"]}
    assert documents[FORM] | {"added_at": None} == {
        "name": FORM,
        "kind": "digital",
        "kind_label": "Bản điện tử",
        "origin": "submission",
        "media_type": "application/pdf",
        "size": len(PDF),
        "filename": "to-khai.pdf",
        "sha256": sha(PDF),
        "reused_from": None,
        "added_at": None,
    }
    assert documents[BIRTH_NOTE]["media_type"] == "image/png"
    assert documents[BIRTH_NOTE]["kind_label"] == "Bản số hóa"
    assert documents[BIRTH_NOTE]["sha256"] == sha(image)

    second = await submit_with_files(
        system, with_documents({"name": FORM}), {"document_0": ("ban-sao.pdf", PDF, "application/pdf")}
    )
    assert second.status_code == 201, second.text
    assert second.json()["documents"][0]["sha256"] == sha(PDF)

    root = files_root(system)
    assert stored_blobs(system) == sorted(
        [root / sha(PDF)[:2] / sha(PDF), root / sha(image)[:2] / sha(image)]
    )
    assert (root / sha(PDF)[:2] / sha(PDF)).read_bytes() == PDF
    assert await count(system, StoredFile) == 2
    assert await count(system, DossierDocument) == 3

    [event] = [
        event
        for event in await payloads(system, "dossier.submitted")
        if event["dossier_code"] == created["code"]
    ]
    assert event["documents"] == [
        {
            "name": FORM,
            "kind": "digital",
            "sha256": sha(PDF),
            "media_type": "application/pdf",
            "size": len(PDF),
            "reused_from": None,
        },
        {
            "name": BIRTH_NOTE,
            "kind": "scan",
            "sha256": sha(image),
            "media_type": "image/png",
            "size": len(image),
            "reused_from": None,
        },
    ]
    registered = await system.registered(created["code"])
    assert registered["status"] == 1


async def test_a_json_submission_still_works_and_starts_the_history(system: System) -> None:
    created = await system.submit()
    assert created["documents"][0]["name"] == FORM and created["documents"][0]["sha256"] is None
    view = (await lookup(system, created["code"])).json()
    assert view["status_label"] == "Mới đăng ký"
    [submitted] = view["history"]
    assert submitted["event_type"] == "dossier.submitted"
    assert (submitted["status"], submitted["status_label"]) == (1, "Mới đăng ký")
    assert submitted["note"] == "Nộp hồ sơ trực tuyến"
    assert datetime.fromisoformat(submitted["at"]).utcoffset() == timedelta(hours=7)


async def test_a_file_is_judged_by_its_content_not_its_name(system: System) -> None:
    body = with_documents({"name": FORM}, {"name": BIRTH_NOTE})
    cases = [
        ("document_1", EXE, "a Windows executable"),
        ("document_1", HTML, "an HTML page"),
        ("document_1", b"", "an empty file"),
    ]
    for part, content, seen in cases:
        response = await submit_with_files(
            system,
            body,
            {
                "document_0": ("to-khai.pdf", PDF, "application/pdf"),
                part: ("giay-chung-sinh.pdf", content, "application/pdf"),
            },
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", part]
        assert part in error["msg"] and seen in error["msg"], error
        assert "PDF" in error["msg"]
    await assert_nothing_stored(system)


async def test_files_over_the_limits_are_refused_and_nothing_is_stored(system: System) -> None:
    # What the service read from MOTCUA_INTAKE_FILES_* when it started (the system is the test's own).
    state = system.apps["intake"].state
    state.intake_file_settings = FileSettings(max_file_bytes=2048, max_dossier_bytes=3000)
    body = with_documents({"name": FORM}, {"name": BIRTH_NOTE})
    small = PDF + b"\n" * (1600 - len(PDF))

    too_big = await submit_with_files(
        system, body, {"document_0": ("to-khai.pdf", PDF + b"\n" * 2100, "application/pdf")}
    )
    assert too_big.status_code == 413, too_big.text
    [error] = too_big.json()["detail"]
    assert error["loc"] == ["body", "document_0"]
    assert "larger than the 2 KB allowed per file" in error["msg"]

    together = await submit_with_files(
        system,
        body,
        {
            "document_0": ("a.pdf", small, "application/pdf"),
            "document_1": ("b.pdf", small, "application/pdf"),
        },
    )
    assert together.status_code == 413, together.text
    assert "allowed for all its files together" in together.json()["detail"][0]["msg"]

    # A request far beyond the dossier's limit is refused before routing, its files unread.
    huge = await submit_with_files(
        system, body, {"document_0": ("huge.pdf", PDF + b"\0" * (3 * 1024 * 1024), "application/pdf")}
    )
    assert huge.status_code == 413, huge.text
    assert "request body is larger" in huge.json()["detail"]
    await assert_nothing_stored(system)

    state.intake_file_settings = FileSettings(max_file_bytes=2048)
    fits = await submit_with_files(system, body, {"document_0": ("a.pdf", small, "application/pdf")})
    assert fits.status_code == 201, fits.text


async def test_a_missing_mandatory_document_is_refused_and_its_files_are_not_kept(system: System) -> None:
    response = await submit_with_files(
        system,
        with_documents({"name": BIRTH_NOTE}),
        {"document_0": ("giay-chung-sinh.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "dossier", "documents"]
    assert FORM in error["msg"]

    bad_parts = [
        ({"document_5": ("a.pdf", PDF, "application/pdf")}, "document_5", "no document at index 5"),
        ({"attachment": ("a.pdf", PDF, "application/pdf")}, "attachment", "unexpected part"),
    ]
    for files, part, words in bad_parts:
        response = await submit_with_files(system, with_documents({"name": FORM}), files)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", part] and words in error["msg"], error

    no_dossier = await system.intake.post(
        "/api/v1/dossiers", files={"document_0": ("a.pdf", PDF, "application/pdf")}
    )
    assert no_dossier.status_code == 422
    assert no_dossier.json()["detail"][0]["loc"] == ["body", "dossier"]
    bad_cccd = await submit_with_files(
        system,
        with_documents({"name": FORM}, id_number="12345"),
        {"document_0": ("a.pdf", PDF, "application/pdf")},
    )
    assert bad_cccd.status_code == 422
    assert bad_cccd.json()["detail"][0]["loc"] == ["body", "dossier", "applicant", "id_number"]
    await assert_nothing_stored(system)


async def test_a_document_can_be_reused_from_the_same_citizens_earlier_dossier(system: System) -> None:
    earlier = await submit_with_files(
        system, with_documents({"name": FORM}), {"document_0": ("to-khai.pdf", PDF, "application/pdf")}
    )
    assert earlier.status_code == 201, earlier.text
    earlier_code = earlier.json()["code"]

    reused = await system.intake.post(
        "/api/v1/dossiers",
        json=with_documents({"name": FORM, "kind": "reused", "reused_from": earlier_code}),
    )
    assert reused.status_code == 201, reused.text
    [document] = reused.json()["documents"]
    assert document["kind"] == "reused" and document["kind_label"] == "Tái sử dụng"
    assert (document["sha256"], document["size"], document["reused_from"]) == (
        sha(PDF),
        len(PDF),
        earlier_code,
    )
    [event] = [
        event
        for event in await payloads(system, "dossier.submitted")
        if event["dossier_code"] == reused.json()["code"]
    ]
    assert event["documents"][0]["reused_from"] == earlier_code
    assert event["documents"][0]["sha256"] == sha(PDF)

    refused = [
        # Another citizen's dossier: the same answer as a dossier that does not exist.
        with_documents(
            {"name": FORM, "kind": "reused", "reused_from": earlier_code}, id_number=OTHER_CITIZEN
        ),
        with_documents({"name": FORM, "kind": "reused", "reused_from": "000.00.06.H56-000101-0001"}),
        # The earlier dossier has no document of that name with stored content.
        with_documents({"name": FORM}, {"name": BIRTH_NOTE, "kind": "reused", "reused_from": earlier_code}),
    ]
    for body in refused:
        response = await system.intake.post("/api/v1/dossiers", json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"][-1] == "reused_from" and "earlier dossier" in error["msg"], error
        assert APPLICANT["full_name"] not in response.text

    no_source = await system.intake.post(
        "/api/v1/dossiers", json=with_documents({"name": FORM, "kind": "reused"})
    )
    assert no_source.status_code == 422
    assert no_source.json()["detail"][0]["loc"] == ["body", "documents", 0, "reused_from"]
    with_a_file = await submit_with_files(
        system,
        with_documents({"name": FORM, "kind": "reused", "reused_from": earlier_code}),
        {"document_0": ("a.pdf", PDF, "application/pdf")},
    )
    assert with_a_file.status_code == 422
    assert "send no file" in with_a_file.json()["detail"][0]["msg"]
    assert await count(system, Dossier) == 2


# -- the receipt -----------------------------------------------------------------------------------
async def test_the_receipt_is_printable_and_only_for_the_applicant(system: System) -> None:
    body = with_documents(
        {"name": FORM, "kind": "digital"},
        {"name": BIRTH_NOTE, "kind": "scan"},
        address="12 <b>Trần Phú</b>, Đà Nẵng",
    )
    created = await submit_with_files(
        system,
        body,
        {
            "document_0": ("to-khai.pdf", PDF, "application/pdf"),
            "document_1": ("giay.png", png(), "image/png"),
        },
    )
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    url = f"/api/v1/dossiers/{code}/receipt"

    response = await system.intake.get(url, headers=citizen_headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in html
    for words in (code, APPLICANT["full_name"], APPLICANT["id_number"], APPLICANT["phone"], FORM, BIRTH_NOTE):
        assert words in html, words
    assert "Bản điện tử" in html and "Bản số hóa" in html
    assert "0,5 ngày làm việc" in html
    assert "Đăng ký khai sinh" in html
    assert "sẽ được thông báo khi hồ sơ được tiếp nhận" in html
    assert "12 &lt;b&gt;Trần Phú&lt;/b&gt;" in html and "<b>Trần Phú" not in html
    submitted_at = datetime.fromisoformat(created.json()["submitted_at"])
    assert submitted_at.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y") in html
    assert "<svg" in html
    lookup_url = receipt.status_url("http://127.0.0.1:8001", code)
    assert lookup_url.startswith("http://127.0.0.1:8001/lookup?code=")
    assert lookup_url in html
    # The QR code drawn is the one of the lookup page with the code alone: no CCCD in it.
    assert str(receipt.qr_svg(lookup_url)) in html

    wrong = await system.intake.get(url, headers=citizen_headers(OTHER_CITIZEN))
    status_lookup = await lookup(system, code, OTHER_CITIZEN)
    assert wrong.status_code == status_lookup.status_code == 404
    assert wrong.json() == status_lookup.json()

    await system.registered(code)
    accepted = await system.processing.post(
        f"/api/v1/dossiers/{code}/accept", headers=system.auth("demo-officer")
    )
    assert accepted.status_code == 200, accepted.text
    due_at = datetime.fromisoformat(accepted.json()["due_at"])

    async def appointment_shown() -> None:
        html = (await system.intake.get(url, headers=citizen_headers())).text
        assert due_at.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y") in html

    await eventually(appointment_shown)


# -- the citizen's actions ------------------------------------------------------------------------
async def test_a_resolved_dossier_cannot_be_withdrawn(system: System) -> None:
    code = (await system.submit())["code"]
    await set_status(system, code, DossierStatus.RELEASING, resolved_at=datetime.now(UTC))
    response = await system.intake.post(
        f"/api/v1/dossiers/{code}/withdrawal", json={}, headers=citizen_headers()
    )
    assert response.status_code == 409
    assert "only until it is resolved" in response.json()["detail"]
    assert await outbox_rows(system, "dossier.withdrawal.requested") == []


async def test_rating_needs_a_returned_result_a_reason_when_dissatisfied_and_happens_once(
    system: System,
) -> None:
    code = (await system.submit())["code"]
    url = f"/api/v1/dossiers/{code}/rating"
    citizen = APPLICANT["id_number"]

    early = await system.intake.post(url, json={"rating": "satisfied"}, headers=citizen_headers(citizen))
    assert early.status_code == 409
    assert "once its result is returned" in early.json()["detail"]

    returned_at = datetime.now(UTC)
    await set_status(
        system,
        code,
        DossierStatus.DONE,
        resolved_at=returned_at,
        returned_at=returned_at,
        result_name="Giấy khai sinh",
        timeliness="early",
    )
    view = (await lookup(system, code)).json()
    assert (view["status"], view["result_name"], view["timeliness"]) == (10, "Giấy khai sinh", "early")

    no_reason = await system.intake.post(
        url, json={"rating": "dissatisfied"}, headers=citizen_headers(citizen)
    )
    assert no_reason.status_code == 422
    [error] = no_reason.json()["detail"]
    assert error["loc"] == ["body", "reason"]
    unknown = await system.intake.post(url, json={"rating": "so-so"}, headers=citizen_headers(citizen))
    assert unknown.status_code == 422
    stranger = await system.intake.post(
        url, json={"rating": "dissatisfied", "reason": "x"}, headers=citizen_headers(OTHER_CITIZEN)
    )
    assert stranger.status_code == 404

    rated = await system.intake.post(
        url, json={"rating": "dissatisfied", "reason": "Phải chờ lâu"}, headers=citizen_headers(citizen)
    )
    assert rated.status_code == 201, rated.text
    assert rated.json()["rating"] == "dissatisfied" and rated.json()["rated_at"] is not None
    assert "Không hài lòng" in rated.json()["history"][-1]["note"]
    [event] = await payloads(system, "dossier.rated")
    assert (event["dossier_code"], event["rating"], event["reason"]) == (code, "dissatisfied", "Phải chờ lâu")

    again = await system.intake.post(url, json={"rating": "very_satisfied"}, headers=citizen_headers(citizen))
    assert again.status_code == 409
    assert "already rated" in again.json()["detail"]


async def test_a_supplement_is_accepted_only_while_one_is_requested(system: System) -> None:
    code = (await system.submit())["code"]
    url = f"/api/v1/dossiers/{code}/supplements"
    citizen = APPLICANT["id_number"]
    image = png()
    documents = json.dumps([{"name": BIRTH_NOTE, "kind": "scan"}])

    early = await system.intake.post(
        url,
        data={"documents": documents},
        headers=citizen_headers(citizen),
        files={"document_0": ("giay.png", image, "image/png")},
    )
    assert early.status_code == 409, early.text
    assert "only while one is requested" in early.json()["detail"]
    assert stored_blobs(system) == []

    deadline = datetime.now(UTC) + timedelta(days=5)
    await set_status(
        system, code, DossierStatus.WAITING, supplement_items=[BIRTH_NOTE], supplement_deadline_at=deadline
    )
    view = (await lookup(system, code)).json()
    assert view["supplement_items"] == [BIRTH_NOTE]
    assert datetime.fromisoformat(view["supplement_deadline_at"]) == deadline

    stranger = await system.intake.post(
        url,
        data={"documents": documents},
        headers=citizen_headers(OTHER_CITIZEN),
        files={"document_0": ("giay.png", image, "image/png")},
    )
    assert stranger.status_code == 404
    disguised = await system.intake.post(
        url,
        data={"documents": documents},
        headers=citizen_headers(citizen),
        files={"document_0": ("giay.png", HTML, "image/png")},
    )
    assert disguised.status_code == 422
    assert "an HTML page" in disguised.json()["detail"][0]["msg"]
    assert stored_blobs(system) == []

    response = await system.intake.post(
        url,
        data={"note": "Gửi bổ sung giấy chứng sinh", "documents": documents},
        headers=citizen_headers(citizen),
        files={"document_0": ("giay.png", image, "image/png")},
    )
    assert response.status_code == 202, response.text
    view = response.json()
    supplement = [document for document in view["documents"] if document["origin"] == "supplement"]
    assert [(d["name"], d["sha256"], d["media_type"]) for d in supplement] == [
        (BIRTH_NOTE, sha(image), "image/png")
    ]
    assert view["history"][-1]["event_type"] == "dossier.supplement.provided"
    assert stored_blobs(system) == [files_root(system) / sha(image)[:2] / sha(image)]
    [event] = await payloads(system, "dossier.supplement.provided")
    assert event["dossier_code"] == code and event["note"] == "Gửi bổ sung giấy chứng sinh"
    assert event["documents"] == [
        {
            "name": BIRTH_NOTE,
            "kind": "scan",
            "sha256": sha(image),
            "media_type": "image/png",
            "size": len(image),
            "reused_from": None,
        }
    ]

    assert view["supplement_provided_at"] is not None
    # The request is answered: a second supplement before processing takes in the first is refused.
    second = await system.intake.post(
        url,
        json={"documents": [{"name": "Bản sao CCCD của người đi khai sinh"}]},
        headers=citizen_headers(citizen),
    )
    assert second.status_code == 409, second.text
    assert "already sent" in second.json()["detail"]

    # Processing never asked for this supplement (the request was set here by hand), so it declines
    # it; once intake has heard so, a new request (a later revision) takes a supplement again.
    async def declined() -> None:
        history = (await lookup(system, code)).json()["history"]
        assert "dossier.request.declined" in [row["event_type"] for row in history], history

    await eventually(declined)
    await set_status(system, code, DossierStatus.WAITING, supplement_revision=3, revision=3)
    as_json = await system.intake.post(
        url,
        json={"documents": [{"name": "Bản sao CCCD của người đi khai sinh"}]},
        headers=citizen_headers(citizen),
    )
    assert as_json.status_code == 202, as_json.text
    assert len(await payloads(system, "dossier.supplement.provided")) == 2
    empty = await system.intake.post(url, json={}, headers=citizen_headers(citizen))
    assert empty.status_code == 422
