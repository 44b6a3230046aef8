"""The officer's workspace in processing's pages: the worklist with its filters, colours and pages,
the dossier page with a form for each action the rules allow, the revision that stops a stale page,
and the electronic result attached at approval. Service tier: the three services on an in-process
bus, officers signed in through the sign-in page."""

from __future__ import annotations

import re
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from services.processing.pages import workspace
from services.processing.result_files import result_files_in
from tests.service.test_staff_sign_in import CSRF, sign_in
from tests.system import System

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
REVISION = re.compile(r'name="revision" value="(\d+)"')

Browser = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(system: System) -> Browser:
    """``async with browser(username)``: a browser of its own, signed in as ``username``."""

    @asynccontextmanager
    async def open_as(username: str) -> AsyncIterator[httpx.AsyncClient]:
        app = system.apps["processing"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://processing") as client:
            assert (await sign_in(client, username)).status_code == 303
            yield client

    return open_as


async def submitted(system: System) -> str:
    code: str = (await system.submit())["code"]
    await system.registered(code)
    return code


async def act(
    system: System, code: str, action: str, username: str, body: dict[str, Any] | None = None
) -> None:
    response = await system.processing.post(
        f"/api/v1/dossiers/{code}/{action}", json=body or {}, headers=System.auth(username)
    )
    assert response.status_code == 200, response.text


async def form_of(client: httpx.AsyncClient, code: str) -> tuple[str, str, str]:
    """The dossier page, its CSRF token and the revision its forms carry."""
    page = await client.get(f"/dossiers/{code}")
    assert page.status_code == 200, page.text
    token, revision = CSRF.search(page.text), REVISION.search(page.text)
    assert token and revision
    return page.text, token.group(1), revision.group(1)


async def test_the_worklist_shows_the_units_dossiers_with_time_left_in_words_and_filters_them(
    system: System, browser: Browser
) -> None:
    code = await submitted(system)
    async with browser("demo-officer") as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert code in page.text and "Còn hạn" in page.text and 'class="badge ok"' in page.text
        assert code in (await client.get("/?status=1")).text
        assert code not in (await client.get("/?overdue=1")).text
        assert code not in (await client.get("/?mine=1")).text
        assert "No dossier matches" in (await client.get("/?overdue=1&lang=en")).text
    async with browser("h56-hc-tuphap-officer") as other_unit:
        assert code not in (await other_unit.get("/")).text


async def test_the_worklist_pages_through_its_dossiers(
    system: System, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "PAGE_SIZE", 2)
    codes = [await submitted(system) for _ in range(3)]
    async with browser("demo-officer") as client:
        first = await client.get("/?status=1")
        assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
        second = await client.get("/?status=1&page=2")
        shown = [code for code in codes if code in first.text + second.text]
        assert shown == codes and 'rel="next"' not in second.text and 'rel="prev"' in second.text


async def test_the_dossier_page_offers_what_the_rules_allow_and_an_action_goes_through_the_workflow(
    system: System, browser: Browser
) -> None:
    code = await submitted(system)
    async with browser("demo-officer") as client:
        text, token, revision = await form_of(client, code)
        assert "Nguyễn Văn An" in text and "049090001234" in text and "Tờ khai đăng ký khai sinh" in text
        assert f'action="/dossiers/{code}/actions/accept"' in text
        assert f'action="/dossiers/{code}/actions/refuse"' in text
        assert "actions/reschedule" not in text and "actions/approve" not in text

        done = await client.post(
            f"/dossiers/{code}/actions/accept", data={"csrf_token": token, "revision": revision}
        )
        assert done.status_code == 303 and done.headers["location"] == f"/dossiers/{code}?done=accept"
        after = await client.get(done.headers["location"])
        assert "Đã thực hiện: Tiếp nhận." in after.text and "Được tiếp nhận" in after.text
        assert "Tiếp nhận, kiểm tra hồ sơ" in after.text and "actions/forward" in after.text
    dossier = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["status"] == 2 and dossier["history"][-1]["actor"] == "demo-officer"


async def test_a_stale_page_is_told_the_dossier_changed_meanwhile_and_nothing_happens(
    system: System, browser: Browser
) -> None:
    code = await submitted(system)
    async with browser("demo-officer") as first, browser("demo-manager") as second:
        _, first_token, revision = await form_of(first, code)
        _, second_token, same_revision = await form_of(second, code)
        assert revision == same_revision
        accepted = await first.post(
            f"/dossiers/{code}/actions/accept", data={"csrf_token": first_token, "revision": revision}
        )
        assert accepted.status_code == 303
        refused = await second.post(
            f"/dossiers/{code}/actions/refuse",
            data={"csrf_token": second_token, "revision": same_revision, "reason": "Sai thẩm quyền"},
        )
        assert refused.status_code == 409
        assert "Hồ sơ đã được thay đổi trong lúc bạn xem" in refused.text
        assert f'href="/dossiers/{code}">Tải lại hồ sơ' in refused.text
    dossier = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["status"] == 2


async def test_an_action_form_without_its_csrf_token_or_with_a_missing_reason_changes_nothing(
    system: System, browser: Browser
) -> None:
    code = await submitted(system)
    async with browser("demo-officer") as client:
        _, token, revision = await form_of(client, code)
        forged = await client.post(f"/dossiers/{code}/actions/accept", data={"revision": revision})
        assert forged.status_code == 403
        empty = await client.post(
            f"/dossiers/{code}/actions/refuse", data={"csrf_token": token, "revision": revision}
        )
        assert empty.status_code == 422 and "Mục này là bắt buộc." in empty.text
    dossier = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["status"] == 1 and dossier["revision"] == int(revision)


async def test_approval_attaches_an_electronic_result_pdf_kept_private(
    system: System, browser: Browser
) -> None:
    code = await submitted(system)
    await act(system, code, "accept", "demo-officer")
    await act(system, code, "forward", "demo-officer")
    await act(system, code, "forward", "h56-hc-tuphap-officer")
    await act(system, code, "forward", "h56-hc-ld-officer")
    async with browser("h56-hc-vt-officer") as client:
        text, token, revision = await form_of(client, code)
        assert 'enctype="multipart/form-data"' in text and "actions/forward" not in text
        path = f"/dossiers/{code}/actions/approve"
        fields = {"csrf_token": token, "revision": revision, "result_name": "Giấy khai sinh"}
        not_pdf = await client.post(
            path, data=fields, files={"result_file": ("kq.pdf", b"MZ\x90\x00", "application/pdf")}
        )
        assert not_pdf.status_code == 422 and "phải là tệp PDF" in not_pdf.text
        approved = await client.post(
            path, data=fields, files={"result_file": ("kq.pdf", PDF, "application/pdf")}
        )
        assert approved.status_code == 303, approved.text
        # The dossier went on to the desk's return step, out of this officer's reach.
        assert approved.headers["location"] == f"/?done=approve&code={code}"
        assert (await client.get(f"/dossiers/{code}/result.pdf")).status_code == 403
    async with browser("demo-officer") as desk:
        download = await desk.get(f"/dossiers/{code}/result.pdf")
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-type"] == "application/pdf"

    dossier = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["status"] == 9 and dossier["electronic_result"] is True
    assert (
        dossier["result"]["name"] == "Giấy khai sinh" and dossier["result"]["media_type"] == "application/pdf"
    )
    stored = result_files_in(system.runtime("processing").settings.common.data_dir).path_of(
        dossier["result"]["sha256"]
    )
    assert stored.read_bytes() == PDF
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(stored.parent.parent.stat().st_mode) == 0o700


async def test_an_approval_through_the_api_is_not_an_electronic_result(system: System) -> None:
    code = await submitted(system)
    for action, username in (
        ("accept", "demo-officer"),
        ("forward", "demo-officer"),
        ("forward", "h56-hc-tuphap-officer"),
        ("forward", "h56-hc-ld-officer"),
    ):
        await act(system, code, action, username)
    await act(
        system,
        code,
        "approve",
        "h56-hc-vt-officer",
        {"result": {"name": "Giấy khai sinh", "sha256": "0" * 64}},
    )
    dossier = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["electronic_result"] is False and dossier["result"].get("sha256") is None
