"""The pages' shared layer: messages fall back to Vietnamese, redirects stay on the site, forms
need their page's CSRF token, and templates cannot reach Python's internals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2.exceptions import SecurityError

from shared.pages import Pages, mount_pages, render, require_csrf, safe_next
from shared.pages.csrf import CSRF_COOKIE, csrf_token
from shared.pages.i18n import SHARED_MESSAGES, Messages, shown_at
from shared.settings import AuthSettings

PORTAL_MESSAGES = Path(__file__).resolve().parents[2] / "services" / "intake" / "pages"
SECRET = "pages-test-secret-0123456789-abcdefghij"


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    write(tmp_path, "messages_vi.toml", '[demo]\nhello = "Xin chào {name}"\nonly_vi = "Chỉ tiếng Việt"\n')
    write(tmp_path, "messages_en.toml", '[demo]\nhello = "Hello {name}"\n')
    write(
        tmp_path,
        "hello.html.j2",
        '{% extends "layout.html.j2" %}{% block title %}x{% endblock %}'
        "{% block content %}<p>{{ t('demo.hello', name=who) }}</p>"
        '<form method="post">{{ csrf_field() }}</form>{% endblock %}',
    )
    write(tmp_path, "escape.html.j2", "{{ ''.__class__.__mro__ }}")
    write(tmp_path, "mutate.html.j2", "{{ items.append(1) }}")
    return Pages(templates=tmp_path, messages=tmp_path)


@pytest.fixture
async def client(pages: Pages) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.auth = AuthSettings(jwt_secret=SECRET)
    mount_pages(app, pages)

    @app.get("/hello")
    async def hello(request: Request, who: str = "An") -> HTMLResponse:
        return render(request, "hello.html.j2", who=who)

    @app.post("/act")
    async def act(request: Request, csrf_token: str = Form("")) -> PlainTextResponse:
        require_csrf(request, csrf_token)
        return PlainTextResponse("done")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as http:
        yield http


# -- messages -----------------------------------------------------------------------------------
def test_a_message_missing_in_english_falls_back_to_vietnamese_and_an_unknown_key_shows_itself(
    pages: Pages,
) -> None:
    messages = pages.messages
    assert messages.text("en", "demo.hello", name="An") == "Hello An"
    assert messages.text("en", "demo.only_vi") == "Chỉ tiếng Việt"
    assert messages.text("vi", "demo.nowhere") == "demo.nowhere"
    assert messages.missing("en") == {"demo.only_vi"}


def test_the_layouts_and_the_portals_messages_exist_in_both_languages() -> None:
    for folder in (SHARED_MESSAGES, PORTAL_MESSAGES):
        messages = Messages([folder])
        assert messages.missing("en") == set()
        assert set(messages.catalogs["en"]) - set(messages.catalogs["vi"]) == set()


def test_instants_are_shown_on_vietnams_clock_in_the_readers_language() -> None:
    moment = datetime(2023, 11, 3, 2, 32, tzinfo=UTC)
    assert shown_at(moment, "vi") == "09:32 ngày 03/11/2023"
    assert shown_at(moment, "en") == "09:32 on 03/11/2023 (Vietnam time)"


async def test_english_is_a_click_away_and_the_choice_is_kept_in_a_cookie(client: httpx.AsyncClient) -> None:
    page = await client.get("/hello")
    assert "Xin chào An" in page.text and '<html lang="vi">' in page.text
    switched = await client.get("/lang", params={"to": "en", "next": "/hello?who=Binh"})
    assert switched.status_code == 303 and switched.headers["location"] == "/hello?who=Binh"
    cookie = switched.headers["set-cookie"].lower()
    assert "lang=en" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    page = await client.get("/hello", params={"who": "Binh"})
    assert "Hello Binh" in page.text and '<html lang="en">' in page.text
    # ?lang= sets it too.
    page = await client.get("/hello", params={"lang": "vi"})
    assert "Xin chào" in page.text and "lang=vi" in page.headers["set-cookie"]


# -- redirects ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/procedures?q=khai+sinh", "/procedures?q=khai+sinh"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_a_return_path_stays_on_the_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


async def test_the_language_switch_never_redirects_off_the_site(client: httpx.AsyncClient) -> None:
    answer = await client.get("/lang", params={"to": "en", "next": "//evil.example/"})
    assert answer.headers["location"] == "/"


# -- pages --------------------------------------------------------------------------------------
async def test_a_page_carries_the_security_headers_and_escapes_what_people_typed(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/hello", params={"who": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_the_stylesheet_is_served_and_an_unknown_file_is_not(client: httpx.AsyncClient) -> None:
    sheet = await client.get("/static/motcua.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in sheet.text and "@media print" in sheet.text
    assert (await client.get("/static/secrets.txt")).status_code == 404


# -- CSRF ---------------------------------------------------------------------------------------
async def test_a_form_is_accepted_with_its_pages_token_and_refused_without(client: httpx.AsyncClient) -> None:
    page = await client.get("/hello")
    assert CSRF_COOKIE in client.cookies
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert (await client.post("/act", data={"csrf_token": token})).text == "done"
    refused = await client.post("/act", data={"csrf_token": "0" * 64})
    assert refused.status_code == 403 and "tải lại trang" in refused.text
    assert (await client.post("/act", data={})).status_code == 403


async def test_a_token_from_another_cookie_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/hello")
    foreign = csrf_token(SECRET, "someone-elses-cookie-value-0123456789")
    assert (await client.post("/act", data={"csrf_token": foreign})).status_code == 403


def test_a_token_is_bound_to_its_session() -> None:
    cookie = "a-cookie-value-0123456789abcdef"
    assert csrf_token(SECRET, cookie, "session-a") != csrf_token(SECRET, cookie, "session-b")
    assert csrf_token(SECRET, cookie) != csrf_token("another-secret-0123456789-abcdefghij", cookie)


# -- sandbox ------------------------------------------------------------------------------------
def test_templates_cannot_reach_pythons_internals_nor_change_what_they_are_given(pages: Pages) -> None:
    with pytest.raises(SecurityError):
        pages.environment.get_template("escape.html.j2").render()
    with pytest.raises(SecurityError):
        pages.environment.get_template("mutate.html.j2").render(items=[])
