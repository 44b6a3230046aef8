"""Files that cross services, at the service tier (in-process bus, no NATS): what the transactions
queue for the Object Store buckets, what the return receipt says of an electronic result, and what
the pages answer while a file has not reached its bucket. The buckets themselves are under test in
tests/e2e/test_files_across_services.py and tests/e2e/test_object_uploads.py."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select

from services.intake.models import object_upload as intake_uploads
from services.processing.models import object_upload as processing_uploads
from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT
from tests.service.test_portal import sign_in, submitted
from tests.service.test_staff_sign_in import sign_in as staff_sign_in
from tests.service.test_staff_workspace import PDF as RESULT_PDF
from tests.service.test_staff_workspace import form_of
from tests.system import System, citizen_headers


async def queued(system: System, service: str) -> list[tuple[str, str, str, str]]:
    table = intake_uploads if service == "intake" else processing_uploads
    async with system.runtime(service).db.reading() as session:
        rows = await session.execute(select(table.c.bucket, table.c.name, table.c.sha256, table.c.media_type))
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def returned_view(system: System, code: str) -> dict[str, Any]:
    """The citizen's view of the dossier once intake has heard that its result was returned."""
    view: dict[str, Any] = (
        await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers())
    ).json()
    assert view["status"] == 10, view["status"]
    return view


def staff_browser(system: System) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    return httpx.AsyncClient(transport=transport, base_url="http://processing")


async def approve_electronically(system: System, code: str) -> None:
    for action, username in (
        ("accept", "demo-officer"),
        ("forward", "demo-officer"),
        ("forward", "h56-hc-tuphap-officer"),
        ("forward", "h56-hc-ld-officer"),
    ):
        response = await system.processing.post(
            f"/api/v1/dossiers/{code}/{action}", json={}, headers=System.auth(username)
        )
        assert response.status_code == 200, response.text
    async with staff_browser(system) as officer:
        assert (await staff_sign_in(officer, "h56-hc-vt-officer")).status_code == 303
        _, token, revision = await form_of(officer, code)
        approved = await officer.post(
            f"/dossiers/{code}/actions/approve",
            data={"csrf_token": token, "revision": revision, "result_name": "Giấy khai sinh"},
            files={"result_file": ("kq.pdf", RESULT_PDF, "application/pdf")},
        )
        assert approved.status_code == 303, approved.text


async def test_a_submission_queues_each_upload_for_the_documents_bucket(system: System) -> None:
    code = await submitted(system)
    digest = hashlib.sha256(PDF_DOCUMENT).hexdigest()
    assert (await queued(system, "intake")) == [("documents", f"{code}/{digest}", digest, "application/pdf")]


async def test_an_electronic_result_is_queued_for_the_results_bucket_and_its_return_says_so(
    system: System,
) -> None:
    code = await submitted(system)
    await system.registered(code)
    await approve_electronically(system, code)
    digest = hashlib.sha256(RESULT_PDF).hexdigest()
    assert (await queued(system, "processing")) == [("results", code, digest, "application/pdf")]
    returned = await system.processing.post(
        f"/api/v1/dossiers/{code}/return-result", json={}, headers=System.auth("demo-officer")
    )
    assert returned.status_code == 200, returned.text
    view = await eventually(lambda: returned_view(system, code))
    assert view["result_electronic"] is True
    assert view["history"][-1]["note"] == "Đã trả kết quả điện tử"


async def test_a_paper_result_is_returned_as_paper_and_offers_no_download(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    for action, username, body in (
        ("accept", "demo-officer", {}),
        ("forward", "demo-officer", {}),
        ("forward", "h56-hc-tuphap-officer", {}),
        ("forward", "h56-hc-ld-officer", {}),
        ("approve", "h56-hc-vt-officer", {"result": {"name": "Giấy khai sinh"}}),
        ("return-result", "demo-officer", {}),
    ):
        response = await system.processing.post(
            f"/api/v1/dossiers/{code}/{action}", json=body, headers=System.auth(username)
        )
        assert response.status_code == 200, response.text
    view = await eventually(lambda: returned_view(system, code))
    assert view["result_electronic"] is False and view["history"][-1]["note"] == "Đã trả kết quả"
    await sign_in(system, code)
    page = await system.intake.get(f"/dossiers/{code}")
    assert "Giấy khai sinh" in page.text and "result.pdf" not in page.text
    assert (await system.intake.get(f"/dossiers/{code}/result.pdf")).status_code == 404


async def test_the_citizen_is_told_to_come_back_while_the_result_is_on_its_way(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    await approve_electronically(system, code)
    assert (await system.intake.get(f"/dossiers/{code}/result.pdf")).status_code == 404
    await sign_in(system, code)

    async def offers_the_result() -> None:
        # Intake hears of the approval through the bus, a moment after processing answered.
        page = await system.intake.get(f"/dossiers/{code}")
        assert f'href="/dossiers/{code}/result.pdf"' in page.text

    await eventually(offers_the_result)
    # No NATS at this tier: the file never reaches the bucket, and the page says to come back.
    later = await system.intake.get(f"/dossiers/{code}/result.pdf")
    assert later.status_code == 503 and "chưa sẵn sàng" in later.text


async def test_the_officer_is_told_to_come_back_while_a_document_is_on_its_way(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    digest = hashlib.sha256(PDF_DOCUMENT).hexdigest()
    async with staff_browser(system) as officer:
        assert (await staff_sign_in(officer, "demo-officer")).status_code == 303
        page = await officer.get(f"/dossiers/{code}")
        assert f'href="/dossiers/{code}/documents/{digest}?download=1"' in page.text
        later = await officer.get(f"/dossiers/{code}/documents/{digest}")
        assert later.status_code == 503 and "chưa sẵn sàng" in later.text
        assert (await officer.get(f"/dossiers/{code}/documents/{'1' * 64}")).status_code == 404
