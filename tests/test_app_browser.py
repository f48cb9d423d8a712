"""`augment app` end to end in a real headless Chromium: the command serves the page on a loopback
port, the browser presses Generate, waits for every digit image to load, and saves a screenshot.

Needs Chromium (Debian's `chromium` package; `.ci/run` installs it) and Playwright's Python client.
Without them the test skips, unless AUGMENT_REQUIRE_BROWSER=1 (set by `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.fixtures import write_untrained_models

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Without the background-networking switches Chromium keeps dialling Google's hosts, which a
# closed network refuses; root (CI containers) needs --no-sandbox.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90
DEFAULT_DIGITS = 100  # what the Generate form asks for unless changed


@pytest.fixture
def chromium() -> str:
    found = os.environ.get("AUGMENT_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    problem = None
    if found is None:
        problem = "no Chromium found (apt-get install chromium, or set AUGMENT_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("AUGMENT_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(app: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if app.poll() is not None:
            pytest.fail(f"augment app exited with {app.returncode}: {app.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"augment app did not answer on {url} within {START_TIMEOUT_S} s")


@pytest.fixture
def served_app(tmp_path):
    write_untrained_models(tmp_path / "run")  # run/gan + run/judge, the `augment run` layout
    port = _free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "augment", "app", "--run", str(tmp_path / "run"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(app, url)
        yield url
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def test_generate_in_a_real_browser(chromium, served_app, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    screenshot = tmp_path / "generate.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app)
            generate = page.get_by_role("button", name="Generate")
            generate.wait_for(timeout=START_TIMEOUT_S * 1000)
            generate.click()
            images = page.locator('[data-testid="stImageContainer"] img')
            expect(images).to_have_count(DEFAULT_DIGITS, timeout=START_TIMEOUT_S * 1000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=stImageContainer] img')]"
                ".every(img => img.complete && img.naturalWidth === 84)",
                timeout=START_TIMEOUT_S * 1000,
            )
            captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert len(captions) == DEFAULT_DIGITS
    assert [caption.split(" · ")[0] for caption in captions] == [
        str(i * 10 // DEFAULT_DIGITS) for i in range(DEFAULT_DIGITS)
    ]
    assert all(0.0 <= float(caption.split(" · ")[1]) <= 1.0 for caption in captions)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
