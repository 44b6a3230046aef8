"""Files cross services through JetStream Object Store buckets (``shared.bus.objects``): an officer
opens and downloads the citizen's upload from processing's dossier page (the documents bucket,
put there by intake), and the citizen downloads the electronic result from the portal with their
session (the results bucket, put there by processing); the return receipt says it was electronic.
End-to-end tier: the buckets themselves are under test, on a real nats-server."""

from __future__ import annotations

import hashlib

import httpx

from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT
from tests.service.test_portal import sign_in, submitted
from tests.service.test_staff_sign_in import sign_in as staff_sign_in
from tests.service.test_staff_workspace import PDF as RESULT_PDF
from tests.service.test_staff_workspace import form_of
from tests.system import System


async def advance_to_the_return_desk(system: System, code: str) -> None:
    """Accept and forward the dossier through the demo procedure's steps up to its approval."""
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


def staff_browser(system: System) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    return httpx.AsyncClient(transport=transport, base_url="http://processing")


async def test_an_officer_opens_and_downloads_the_citizens_upload(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    digest = hashlib.sha256(PDF_DOCUMENT).hexdigest()
    async with staff_browser(system) as officer:
        assert (await staff_sign_in(officer, "demo-officer")).status_code == 303
        page = await officer.get(f"/dossiers/{code}")
        link = f"/dossiers/{code}/documents/{digest}"
        assert f'href="{link}"' in page.text and f'href="{link}?download=1"' in page.text

        async def opened() -> httpx.Response:
            answer = await officer.get(link)
            assert answer.status_code == 200, answer.status_code
            return answer

        shown = await eventually(opened)
        assert shown.content == PDF_DOCUMENT and shown.headers["content-type"] == "application/pdf"
        assert shown.headers["content-disposition"].startswith("inline;")
        assert shown.headers["x-content-type-options"] == "nosniff"
        kept = await officer.get(link, params={"download": "1"})
        assert kept.status_code == 200 and kept.headers["content-disposition"].startswith("attachment;")
        assert (await officer.get(f"/dossiers/{code}/documents/{'0' * 64}")).status_code == 404
    async with staff_browser(system) as outsider:
        assert (await staff_sign_in(outsider, "h56-hc-tuphap-officer")).status_code == 303
        assert (await outsider.get(link)).status_code == 403


async def test_the_citizen_downloads_the_electronic_result_and_the_return_says_so(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    await advance_to_the_return_desk(system, code)
    async with staff_browser(system) as officer:
        assert (await staff_sign_in(officer, "h56-hc-vt-officer")).status_code == 303
        _, token, revision = await form_of(officer, code)
        approved = await officer.post(
            f"/dossiers/{code}/actions/approve",
            data={"csrf_token": token, "revision": revision, "result_name": "Giấy khai sinh"},
            files={"result_file": ("kq.pdf", RESULT_PDF, "application/pdf")},
        )
        assert approved.status_code == 303, approved.text
    returned = await system.processing.post(
        f"/api/v1/dossiers/{code}/return-result", json={}, headers=System.auth("demo-officer")
    )
    assert returned.status_code == 200, returned.text

    # Without a session, nobody learns that the file exists.
    assert (await system.intake.get(f"/dossiers/{code}/result.pdf")).status_code == 404
    await sign_in(system, code)

    async def returned_electronically() -> str:
        page = await system.intake.get(f"/dossiers/{code}")
        assert "Đã trả kết quả điện tử" in page.text
        return page.text

    page = await eventually(returned_electronically)
    assert f'href="/dossiers/{code}/result.pdf"' in page

    async def downloaded() -> httpx.Response:
        answer = await system.intake.get(f"/dossiers/{code}/result.pdf")
        assert answer.status_code == 200, answer.status_code
        return answer

    result = await eventually(downloaded)
    assert result.content == RESULT_PDF and result.headers["content-type"] == "application/pdf"
    assert result.headers["content-disposition"].startswith("attachment;")
    assert result.headers["cache-control"] == "no-store"
