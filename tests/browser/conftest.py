"""A real portal process with the demo loaded, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _flask(env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "portal", *args]


@dataclass(frozen=True)
class LivePortal:
    """The running portal, and a way to run its operations commands on the same data."""

    url: str
    env: dict[str, str]

    def flask(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            _flask(self.env, *args), env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout


@pytest.fixture(scope="session")
def live_server(live_portal: LivePortal) -> str:
    return live_portal.url


@pytest.fixture(scope="session")
def live_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    home = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "PORTAL_ENV": "development",
        "DATABASE_URL": f"sqlite:///{home / 'portal.db'}",
        "STORAGE_URL": (home / "documents").as_uri(),
        "SECRET_KEY": "browser-test-secret-key-long-enough-to-sign",
        "LOGIN_RATE_LIMIT": "300 per minute",  # every test signs in from the same address
    }
    for command in (("db", "upgrade"), ("demo", "load")):
        subprocess.run(_flask(env, *command), env=env, check=True, capture_output=True)  # noqa: S603
    # Calls are allowed only in the debtor's daytime; the tests run at any hour.
    with sqlite3.connect(home / "portal.db") as database:
        database.execute("UPDATE tenants SET contact_hours_start = 0, contact_hours_end = 24")
    port = _free_port()
    log = (home / "server.log").open("w")
    server = subprocess.Popen(  # noqa: S603
        _flask(env, "run", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 - loopback
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.terminate()
        pytest.fail(f"the portal did not start: {(home / 'server.log').read_text()}")
    yield LivePortal(base, env)
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server: str):
    context = browser.new_context(base_url=live_server)
    tab = context.new_page()
    tab.console_errors = []
    tab.on(
        "console",
        lambda message: message.type == "error" and tab.console_errors.append(message.text),
    )
    yield tab
    context.close()
