"""The browser tier: the whole system for real (a nats-server, intake, processing and notify behind
uvicorn on free ports, SQLite in the test's folder, the demo seed), driven by Playwright in
Debian's Chromium, headless.

``check_page(page, name)`` saves a full-page screenshot as
``artifacts/screenshots/<test>-<name>.png`` and runs axe-core on the page: any violation of
serious or critical impact is printed and fails the test. ``sign_in`` and ``sign_out`` are a member
of staff at processing's pages; ``board_reaches_notify`` lets the board call notify where the test
serves it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from services.processing.pages.board import BoardSettings
from services.processing.sign_in.demo import DEMO_PASSWORD
from tests.conftest import RuntimeSettingsFactory
from tests.system import System, running_system, smtp_server  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
BLOCKING = ("serious", "critical")
# A phone's viewport: every page must work at this width.
PHONE = {"width": 390, "height": 844}

PageCheck = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def db_backend() -> str:
    # The browser tests run on SQLite; the service tiers cover PostgreSQL.
    return "sqlite"


@pytest.fixture
async def live_system(runtime_settings: RuntimeSettingsFactory) -> AsyncIterator[System]:
    """The three services on the test's nats-server, each served on a free local port."""
    async with running_system(runtime_settings, served=True) as system:
        yield system


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (as root)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    # Whatever the Content-Security-Policy refused (an inline script or style) shows in the console.
    refused: list[str] = []
    opened.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    try:
        yield opened
    finally:
        await context.close()
    assert not refused, f"the pages broke their Content-Security-Policy: {refused}"


def blocking_violations(violations: list[dict[str, Any]]) -> list[str]:
    """Axe's violations of serious or critical impact, one line each with the elements at fault."""
    found = []
    for violation in violations:
        if violation.get("impact") in BLOCKING:
            targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])]
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    return found


@pytest.fixture
def check_page(request: pytest.FixtureRequest) -> PageCheck:
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    async def check(page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{test}-{name}.png"), full_page=True)
        results = await Axe().run(page)
        violations: list[dict[str, Any]] = results.response["violations"]
        others = [f"{v.get('impact')} {v['id']}" for v in violations if v.get("impact") not in BLOCKING]
        blocking = blocking_violations(violations)
        print(f"axe {name} ({page.url}): {len(blocking)} serious or critical; others: {others or 'none'}")
        for line in blocking:
            print(f"  {line}")
        assert not blocking, f"axe-core on {name}: " + "; ".join(blocking)

    return check


async def sign_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign ``username`` in at processing's pages (``base``) from the sign-in form."""
    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")


def board_reaches_notify(system: System) -> None:
    """Processing's board calls notify where the test serves it, and notify answers its origin."""
    system.apps["processing"].state.board = BoardSettings(notify_url=system.urls["notify"])
    system.apps["notify"].state.cors_origins = [system.urls["processing"]]
