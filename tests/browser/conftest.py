"""What every browser test shares: Debian's chromium driven by Playwright, and a real stack of its own.

Each test module starts its own stack (sandbox, gunicorn, a Celery worker, the history) on a private
``redis-server``: the integration tier's session stack may still be running, and a second worker on
the same broker would take this stack's events to the other sandbox. The tests skip only when no
chromium is installed (``apt-get install chromium`` or ``CHROMIUM_PATH``); never ``playwright install``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import ROOT, Stack
from tests.integration.conftest import own_stack

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def console_stack(base: Path, users: list[tuple[str, str, str]], api_auth: tuple[str, str]) -> Iterator[Stack]:
    """A stack whose console knows ``users`` (name, password, role), on a Redis of its own."""
    if chromium_path() is None:
        pytest.skip("no chromium: apt-get install chromium (or set CHROMIUM_PATH)")
    from app.console.users import user_line

    users_file = base / "console-users-of-this-test"
    users_file.write_text("".join(user_line(name, password, role, rounds=4) + "\n" for name, password, role in users))
    extra_env = {"CONSOLE_USERS_FILE": str(users_file), "SECRET_KEY": "browser-test-secret-key",
                 "HISTORY_DRAIN_INTERVAL": "0.5"}
    with own_stack(base, extra_env, api_auth=api_auth) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if chromium_path() is None:
        pytest.skip("no chromium: apt-get install chromium (or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save a page's picture under ``SCREENSHOTS_DIR`` (default ``.run/screenshots``, ignored by git);
    ``SCREENSHOTS_DIR=docs/screenshots`` refreshes the README's pictures, so a plain test run leaves the
    tree as it was."""
    directory = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / ".run" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)


class Console:
    """One logged-in browser tab of ``stack``'s console, collecting every console error and uncaught
    exception in ``errors`` (a test asserts it is empty)."""

    def __init__(self, browser: Any, stack: Stack, user: tuple[str, str], *, width: int = 1280,
                 height: int = 900, timeout_ms: int = 20_000):
        self.stack = stack
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.open("/console/login")
        self.page.fill("input[name=name]", user[0])
        self.page.fill("input[name=password]", user[1])
        self.page.click("form.login-form [type=submit]")
        self.page.wait_for_url("**/console/**")

    def open(self, path: str) -> Any:
        self.page.goto(f"{self.stack.web_url}{path}")
        return self.page

    def expected_refusal(self, status: str) -> None:
        """The browser logs every 4xx answer as a console error; a refusal the page handles is not one."""
        self.errors = [error for error in self.errors if f"status of {status}" not in error]

    def shoot(self, name: str) -> None:
        screenshot(self.page, name)

    def close(self) -> None:
        self.context.close()
