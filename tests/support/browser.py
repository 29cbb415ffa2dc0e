"""Debian's headless chromium driven by Selenium, for the tests of what a browser sees."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


@contextmanager
def headless_chromium(window: str = "1400,1000") -> Iterator[webdriver.Chrome]:
    """A browser that logs its console and its network events (``network_responses``)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    # a missing browser fails the test (make system-deps installs both): never a skip
    assert chromium and driver, "Debian packages chromium and chromium-driver are needed"
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={window}",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit driver path: Selenium Manager never tries to download one
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def network_events(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """The DevTools Network events logged since the last call (each call drains the log)."""
    events = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events
