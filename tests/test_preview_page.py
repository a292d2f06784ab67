"""The `fmnist live --serve` page in a real browser: Debian's chromium, driven by Playwright with the system
browser's executable (Playwright's own browser download cannot work here). A video plays through
`fmnist live --realtime --serve 127.0.0.1:0`; the page must show the product, the top 3, a moving stream, and
"not sure" on the blank frames. The page's screenshots are kept in test-artifacts/ (or $FMNIST_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmnist.data import fashion
from scripts.product_video import write_video

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("FMNIST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# as the probe on this machine starts it: no sandbox as root, and no background traffic to a closed network
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no chromium at {CHROMIUM}: install it (sudo apt-get install chromium); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def live_page(tmp_path):
    """`fmnist live` serving a trouser held 4 s, then 3 s of blank table; yields the preview's address."""
    test = fashion.load_split("test")
    trouser = test.images[test.labels == 1][:1]
    write_video(tmp_path / "clip.mp4", trouser, hold=120, blank=90, fps=30)
    process = subprocess.Popen([Path(sys.executable).parent / "fmnist", "live", "--source", str(tmp_path / "clip.mp4"),
                                "--no-display", "--realtime", "--serve", "127.0.0.1:0"],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"preview on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                break
        else:
            pytest.fail("fmnist live printed no preview address")
        yield found.group(1)
    finally:
        process.kill()
        process.wait()


def test_the_page_shows_the_product_the_top_3_a_moving_stream_and_not_sure(browser, live_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1000, "height": 640})
    page.goto(live_page)
    assert "photo.int8.onnx" in page.inner_text("#model")  # the model's name: the default, the photo model
    page.wait_for_function("document.getElementById('label').textContent === 'Trouser'", timeout=15_000)
    assert page.get_attribute("body", "class") == "sure"
    top = [li.get_attribute("data-label") for li in page.query_selector_all("#top li")]
    assert len(top) == 3 and top[0] == "Trouser"
    page.wait_for_function("document.getElementById('seen').naturalWidth === 160", timeout=5_000)  # what it saw
    page.wait_for_function("document.getElementById('seen-size').textContent === 'what the model saw (160\u00d7160)'",
                           timeout=5_000)  # captioned with the input's own size, not a fixed 28x28
    first = page.locator("#stream").screenshot()
    time.sleep(0.5)
    assert page.locator("#stream").screenshot() != first  # the stream moves (fresh sensor noise every frame)
    page.screenshot(path=ARTIFACTS / "preview.png")
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(live_page)
    phone.wait_for_function("document.getElementById('top').children.length === 3", timeout=10_000)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    phone.screenshot(path=ARTIFACTS / "preview-phone.png")
    page.wait_for_function("document.getElementById('label').textContent === 'not sure'", timeout=15_000)
    assert page.get_attribute("body", "class") == "unsure"  # the blank table: visibly not sure
    page.screenshot(path=ARTIFACTS / "preview-not-sure.png")
