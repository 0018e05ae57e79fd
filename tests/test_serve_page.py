"""The page of ``hamsearch serve`` in a real browser: headless Chromium
(Debian ``chromium`` + ``chromium-driver``, driven by selenium with the
system driver -- nothing is downloaded) loads ``GET /`` from a real server
running the demo, clicks a thumbnail, sees 10 Hamming and 10 hierarchical
results, uploads an image, and saves a screenshot.

``HAMSEARCH_SCREENSHOT=path.png`` also writes the screenshot there (how
``docs/img/serve.png`` is made); otherwise it goes to the test's tmp dir.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sys
import time

import numpy as np
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

sys.path.insert(0, os.path.dirname(__file__))
from serve_helpers import TOKEN, ServerProcess  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium; it is in the test extra)")
    if CHROMIUM is None:
        pytest.skip("no Chromium (apt-get install chromium)")
    if DRIVER is None:
        pytest.skip("no chromedriver (apt-get install chromium-driver)")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not fetch a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_page_click_a_thumbnail_and_upload(tmp_path):
    from selenium.webdriver.common.by import By

    tok = tmp_path / "token"
    tok.write_text(TOKEN)
    server = ServerProcess(["--demo", "fashion-mnist", "--demo-limit", "6000",
                            "--index", str(tmp_path / "demo")], str(tok))
    driver = None
    t0 = time.monotonic()
    try:
        server.wait_ready(timeout=120)
        t_ready = time.monotonic()
        driver = _driver()
        driver.get(server.url + "/")
        def loaded():
            imgs = driver.find_elements(By.CSS_SELECTOR, "#grid img")
            ok = [e for e in imgs if driver.execute_script("return arguments[0].naturalWidth", e)]
            return ok if len(ok) >= 24 and len(ok) == len(imgs) else None

        thumbs = _wait(loaded, what="24 or more thumbnails")
        thumbs[0].click()
        _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#hamming .result")) == 10 and
              len(driver.find_elements(By.CSS_SELECTOR, "#hier .result")) == 10,
              what="10 + 10 results")
        ham = driver.find_element(By.ID, "hamming").text
        hier = driver.find_element(By.ID, "hier").text
        assert "Hamming only" in ham and "Hierarchical" in hier
        assert "Hamming " in ham and "feature " in hier
        query = driver.find_element(By.ID, "query").text
        assert "query: id" in query
        _wait(lambda: all(driver.execute_script("return arguments[0].naturalWidth", e)
                          for e in driver.find_elements(By.CSS_SELECTOR, ".result img")),
              what="result thumbnails")
        shot = tmp_path / "serve.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        target = os.environ.get("HAMSEARCH_SCREENSHOT")
        if target:
            shutil.copyfile(shot, target)

        # upload: the corpus image 3 as a PNG file
        from PIL import Image

        import hamsearch.datasets as ds

        try:
            images, _ = ds.load("fashion-mnist")
        except (FileNotFoundError, ImportError):
            images = None
        if images is not None:
            png = tmp_path / "query.png"
            Image.fromarray(images[3]).save(png)
            driver.find_element(By.ID, "file").send_keys(str(png))
            _wait(lambda: "query.png" in driver.find_element(By.ID, "query").text,
                  what="the upload's results")
            first = driver.find_elements(By.CSS_SELECTOR, "#hamming .result")[0].text
            assert first.startswith("id 3 ") and "Hamming 0" in first
            assert len(driver.find_elements(By.CSS_SELECTOR, "#hier .result")) == 10
        print(f"\npage test: server ready in {t_ready - t0:.1f} s, browser part "
              f"{time.monotonic() - t_ready:.1f} s")
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not logs, logs
    finally:
        if driver is not None:
            driver.quit()
        server.stop(signal.SIGKILL)
