"""A real headless Chromium for the HTML report's tests and its benchmark: Debian's chromium and
chromedriver (installed by scripts/test), driven by Selenium; the reason it is missing, if it is."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

CHROMIUM = ("chromium", "chromium-browser")
# as root, on a machine whose network is closed: no sandbox (root), no background connections
# (refused many at a time here), a fresh profile each time
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def missing() -> Optional[str]:
    """Why no browser can be started here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(name) for name in CHROMIUM):
        return "no chromium (scripts/test installs Debian's chromium as root; this run could not)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (Debian's chromium-driver package)"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium at this window size, its console kept (``console(driver)``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = next(p for p in map(shutil.which, CHROMIUM) if p)
    options.binary_location = binary  # given, so Selenium never asks its manager (no network)
    with tempfile.TemporaryDirectory(prefix="fleetcache-chromium-") as profile:
        for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver"))
        driver = webdriver.Chrome(options=options, service=service)
        try:
            yield driver
        finally:
            driver.quit()


def console(driver: Any) -> list[dict[str, Any]]:
    """What the page wrote to the console (and its uncaught errors) since the last call."""
    return list(driver.get_log("browser"))


def errors(driver: Any) -> list[str]:
    """The console's errors since the last call: an uncaught exception, a failed load, console.error."""
    return [e["message"] for e in console(driver) if e.get("level") == "SEVERE"]
