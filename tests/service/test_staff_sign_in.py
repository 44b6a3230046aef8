"""Staff sign in to processing's pages with a username and password: a server-side session in an
HttpOnly, SameSite=Strict cookie, CSRF on every form, a lockout after repeated failures, a password an
admin set that must be changed, and inactive staff kept out. Service tier: the three services on an
in-process bus."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from services.processing.models import StaffCredential, StaffSession
from services.processing.sign_in.demo import DEMO_PASSWORD
from services.processing.sign_in.web import SESSION_COOKIE
from shared.events import utc_now
from tests.system import System

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ADMIN_PEOPLE = "/api/v1/admin/people"


@pytest.fixture
async def browser(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own on processing's pages: its own cookie jar."""
    app = system.apps["processing"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://processing"
    ) as client:
        yield client


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, f"{path} has no CSRF field"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD, *, next: str = "/"
) -> httpx.Response:
    token = await form_token(client, f"/sign-in?next={next}")
    return await client.post(
        "/sign-in",
        data={"username": username, "password": password, "next": next, "csrf_token": token},
    )


async def sessions_of(system: System, username: str) -> list[StaffSession]:
    async with system.runtime("processing").db.reading() as session:
        rows = await session.exec(select(StaffSession).where(StaffSession.username == username))
        return list(rows.all())


async def test_an_officer_signs_in_with_the_demo_password_and_signs_out(
    system: System, browser: httpx.AsyncClient
) -> None:
    signed = await sign_in(browser, "demo-officer", next="/password")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/password"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    [stored] = await sessions_of(system, "demo-officer")
    assert browser.cookies[SESSION_COOKIE] not in stored.id_hash  # only its hash is kept

    page = await browser.get("/password")
    assert page.status_code == 200 and "demo-officer" in page.text

    token = CSRF.search(page.text)
    assert token
    out = await browser.post("/sign-out", data={"csrf_token": token.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert await sessions_of(system, "demo-officer") == []
    again = await browser.get("/password")
    assert again.status_code == 303 and again.headers["location"] == "/sign-in?next=%2Fpassword"


async def test_an_anonymous_page_request_goes_to_sign_in_and_comes_back_only_to_this_site(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/password?next=/x")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fpassword%3Fnext%3D%2Fx"
    signed = await sign_in(browser, "demo-officer", next="//evil.example/steal")
    assert signed.status_code == 303 and signed.headers["location"] == "/"


async def test_a_sign_in_form_without_its_csrf_token_is_refused_and_opens_no_session(
    system: System, browser: httpx.AsyncClient
) -> None:
    await form_token(browser, "/sign-in")  # the browser holds the form cookie, not the token
    response = await browser.post(
        "/sign-in", data={"username": "demo-officer", "password": DEMO_PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert await sessions_of(system, "demo-officer") == []


async def test_a_signed_in_form_needs_the_token_of_this_session(
    system: System, browser: httpx.AsyncClient
) -> None:
    before = await form_token(browser, "/sign-in")
    await sign_in(browser, "demo-officer")
    # The token of the page before sign-in is not this session's.
    response = await browser.post("/sign-out", data={"csrf_token": before})
    assert response.status_code == 403
    assert len(await sessions_of(system, "demo-officer")) == 1


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(browser: httpx.AsyncClient) -> None:
    wrong = await sign_in(browser, "demo-officer", "not-the-password")
    unknown = await sign_in(browser, "no-such-officer", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    message = "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang tạm khoá"
    assert message in wrong.text and message in unknown.text
    assert 'value="demo-officer"' in wrong.text  # what was typed stays, but never the password
    assert "not-the-password" not in wrong.text


async def test_five_failures_lock_the_account_for_a_while_even_with_the_right_password(
    system: System, browser: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert (await sign_in(browser, "demo-manager", "wrong-password-123")).status_code == 401
    [record] = [item for item in caplog.records if "locked" in item.getMessage()]
    assert "demo-manager" in record.getMessage() and "wrong-password-123" not in record.getMessage()

    locked = await sign_in(browser, "demo-manager")
    assert locked.status_code == 401
    assert "khoá 15 phút" in locked.text

    # Fifteen minutes later.
    async with system.runtime("processing").db.session() as session:
        credential = await session.get(StaffCredential, "demo-manager")
        assert credential is not None and credential.locked_until is not None
        credential.locked_until = utc_now() - timedelta(seconds=1)
        session.add(credential)
    assert (await sign_in(browser, "demo-manager")).status_code == 303
    async with system.runtime("processing").db.reading() as session:
        credential = await session.get(StaffCredential, "demo-manager")
        assert credential is not None and credential.failed_attempts == 0


async def test_a_password_an_admin_sets_must_be_changed_at_the_first_sign_in(
    system: System, browser: httpx.AsyncClient
) -> None:
    other = await sign_in(browser, "demo-leader")
    assert other.status_code == 303
    reset = await system.processing.put(
        f"{ADMIN_PEOPLE}/demo-leader/password",
        json={"password": "tam-thoi-2026"},
        headers=System.auth("demo-admin"),
    )
    assert reset.status_code == 204, reset.text
    # The reset ended the session the leader had.
    assert (await browser.get("/password")).status_code == 303
    assert (await sign_in(browser, "demo-leader")).status_code == 401

    signed = await sign_in(browser, "demo-leader", "tam-thoi-2026", next="/password?x=1")
    assert signed.status_code == 303
    assert signed.headers["location"].startswith("/password?next=")
    # Every other page sends them to choose a password first.
    elsewhere = await browser.get("/sign-in")
    assert elsewhere.status_code == 200  # the sign-in page itself stays open
    token = await form_token(browser, "/password")

    async def change(current: str, new: str, confirm: str) -> httpx.Response:
        data = {"current": current, "new": new, "confirm": confirm, "next": "/", "csrf_token": token}
        return await browser.post("/password", data=data)

    assert (await change("tam-thoi-2026", "rieng-cua-toi-1", "rieng-cua-toi-2")).status_code == 422
    short = await change("tam-thoi-2026", "ngan", "ngan")
    assert short.status_code == 422 and "ít nhất 10 ký tự" in short.text
    wrong = await change("sai-mat-khau-1", "rieng-cua-toi-1", "rieng-cua-toi-1")
    assert wrong.status_code == 422 and "Mật khẩu hiện tại không đúng" in wrong.text
    done = await change("tam-thoi-2026", "rieng-cua-toi-1", "rieng-cua-toi-1")
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await browser.get("/password")).status_code == 200

    async with system.runtime("processing").db.reading() as session:
        credential = await session.get(StaffCredential, "demo-leader")
        assert credential is not None and not credential.must_change


async def test_the_admin_password_route_refuses_weak_passwords_unknown_users_and_non_admins(
    system: System,
) -> None:
    path = f"{ADMIN_PEOPLE}/demo-officer/password"
    weak = await system.processing.put(
        path, json={"password": "demo-officer"}, headers=System.auth("demo-admin")
    )
    assert weak.status_code == 422
    assert weak.json()["detail"][0]["loc"] == ["body", "password"]
    assert weak.json()["detail"][0]["msg"] == "the password needs to differ from the username"
    short = await system.processing.put(path, json={"password": "ngan"}, headers=System.auth("demo-admin"))
    assert short.status_code == 422 and "at least 10 characters" in short.text
    unknown = await system.processing.put(
        f"{ADMIN_PEOPLE}/nobody/password",
        json={"password": "hoa-sen-2026"},
        headers=System.auth("demo-admin"),
    )
    assert unknown.status_code == 404
    officer = await system.processing.put(
        path, json={"password": "hoa-sen-2026"}, headers=System.auth("demo-officer")
    )
    assert officer.status_code == 403


async def test_a_deactivated_officer_is_signed_out_and_cannot_sign_in(
    system: System, browser: httpx.AsyncClient
) -> None:
    assert (await sign_in(browser, "demo-officer")).status_code == 303
    patched = await system.processing.patch(
        f"{ADMIN_PEOPLE}/demo-officer", json={"active": False}, headers=System.auth("demo-admin")
    )
    assert patched.status_code == 200, patched.text
    assert await sessions_of(system, "demo-officer") == []
    assert (await browser.get("/password")).status_code == 303
    assert (await sign_in(browser, "demo-officer")).status_code == 401


async def test_a_session_ends_after_its_idle_time(system: System, browser: httpx.AsyncClient) -> None:
    assert (await sign_in(browser, "demo-officer")).status_code == 303
    async with system.runtime("processing").db.session() as session:
        [row] = (await session.exec(select(StaffSession))).all()
        row.last_seen_at = utc_now() - timedelta(minutes=31)
        session.add(row)
    assert (await browser.get("/password")).status_code == 303
    assert await sessions_of(system, "demo-officer") == []


async def test_a_bearer_token_opens_the_pages_for_scripts(system: System) -> None:
    page = await system.processing.get("/password", headers=System.auth("demo-officer"))
    assert page.status_code == 200
