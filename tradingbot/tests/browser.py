"""Headless Chromium from Debian's `chromium` package, driven by Selenium through Debian's
`chromium-driver` (bin/test installs both with apt-get when they are missing). Nothing is
downloaded: the binaries are given explicitly and Selenium Manager is kept offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first_existing(candidates: tuple[str, ...], name: str) -> str | None:
    return next((c for c in candidates if Path(c).exists()), None) or shutil.which(name)


def missing() -> str | None:
    """Why the browser cannot start, or None when it can."""
    if _first_existing(CHROMIUM_CANDIDATES, "chromium") is None:
        return "chromium is not installed (apt-get install chromium chromium-driver; bin/test does it)"
    if _first_existing(DRIVER_CANDIDATES, "chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver; bin/test does it)"
    return None


def headless_chromium(download_dir: Path) -> webdriver.Chrome:
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    options = Options()
    options.binary_location = _first_existing(CHROMIUM_CANDIDATES, "chromium") or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={download_dir / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    service = Service(executable_path=_first_existing(DRIVER_CANDIDATES, "chromedriver") or "chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver
