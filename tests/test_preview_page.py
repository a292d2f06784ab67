"""The `fmnist live --serve` page and `fmnist serve`'s upload page in a real browser: Debian's chromium, driven by
Playwright with the system browser's executable (Playwright's own browser download cannot work here). A video plays
through `fmnist live --realtime --serve 127.0.0.1:0`; the page must show the product, the top 3, a moving stream, and
"not sure" on the blank frames. `fmnist serve --source` serves the upload page, where a photo picked or dropped
shows its label, the top 3, "not sure" and what the model saw, and the same live page at /live. The pages'
screenshots are kept in test-artifacts/ (or $FMNIST_ARTIFACTS).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from fmnist.data import fashion
from scripts.product_video import write_held

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


def trouser_clip(folder: Path, fps: int = 10) -> Path:
    """3 s of blank table, then a trouser for 4 s, six times over (42 s). Whenever a page loads, the product and then
    the blank table come within 7 s, whatever it waited for before: no step races a moment of the clip. The run is
    killed once a test is done. Each scene cycles through 8 noisy frames, so the stream changes every frame."""
    test = fashion.load_split("test")
    trouser = test.images[test.labels == 1][0]
    write_held(folder / "clip.mp4", [(None, 3 * fps), (trouser, 4 * fps)] * 6, fps, variants=8)
    return folder / "clip.mp4"


@contextmanager
def address_of(*args: str, said: str) -> Iterator[str]:
    """`fmnist ARGS` running; yields the address its line on stderr gives after `said`."""
    process = subprocess.Popen([Path(sys.executable).parent / "fmnist", *args],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(rf"{said} (http://127\.0\.0\.1:\d+/)", line)
            if found:
                break
        else:
            pytest.fail(f"fmnist {args[0]} printed no address")
        yield found.group(1)
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def live_page(tmp_path):
    """`fmnist live` serving trouser_clip (blank table and a trouser by turns); yields the preview's address."""
    clip = trouser_clip(tmp_path)
    with address_of("live", "--source", str(clip), "--no-display", "--realtime", "--serve", "127.0.0.1:0",
                    said="preview on") as url:
        yield url


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
    assert page.locator("#stream").screenshot() != first  # the stream moves (its noise differs frame to frame)
    page.screenshot(path=ARTIFACTS / "preview.png")
    page.wait_for_function("document.getElementById('label').textContent === 'not sure'", timeout=15_000)
    assert page.get_attribute("body", "class") == "unsure"  # the blank table after the product: visibly not sure
    page.screenshot(path=ARTIFACTS / "preview-not-sure.png")
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(live_page)
    phone.wait_for_function("document.getElementById('top').children.length === 3", timeout=10_000)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    phone.screenshot(path=ARTIFACTS / "preview-phone.png")

def dropped(page, path: Path, kind: str) -> None:
    """`path` dropped on the page's drop zone, as a person drags a file from their desktop."""
    transfer = page.evaluate_handle(
        """([name, data, kind]) => {
             const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], name, {type: kind}));
             return transfer;
           }""", [path.name, base64.b64encode(path.read_bytes()).decode(), kind])
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_the_upload_page_shows_a_photo_s_label_top_3_not_sure_and_what_the_model_saw(browser, tmp_path):
    photos = ROOT / "examples" / "photos"
    clip = trouser_clip(tmp_path)  # the live page is checked last
    with address_of("serve", "--port", "0", "--source", str(clip), said="serving photo.int8.onnx on") as url:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(url)
        assert "photo.int8.onnx" in page.inner_text("#model") and page.is_visible("#live-link")
        page.set_input_files("#pick", photos / "pants.jpg")  # picked
        page.wait_for_function("document.getElementById('label').textContent === 'Trouser'", timeout=10_000)
        assert page.get_attribute("body", "class") == "sure" and page.inner_text("#state").endswith("% sure")
        top = [li.get_attribute("data-label") for li in page.query_selector_all("#top li")]
        assert len(top) == 3 and top[0] == "Trouser"
        page.wait_for_function("document.getElementById('seen').naturalWidth === 160", timeout=5_000)  # what it saw
        assert page.inner_text("#seen-size") == "what the model saw (160\u00d7160)"
        page.screenshot(path=ARTIFACTS / "upload.png")
        dropped(page, photos / "hat.jpg", "image/jpeg")  # dropped: no class of the model's, so not sure
        page.wait_for_function("document.getElementById('label').textContent === 'not sure'", timeout=10_000)
        assert page.get_attribute("body", "class") == "unsure"
        assert page.inner_text("#state").startswith("not sure: maybe")
        page.screenshot(path=ARTIFACTS / "upload-not-sure.png")
        (tmp_path / "notes.txt").write_text("not a photo")
        dropped(page, tmp_path / "notes.txt", "text/plain")  # any file: its bytes are judged, not its type
        page.wait_for_function("document.body.className === 'failed'", timeout=10_000)
        assert "not an image fmnist reads" in page.inner_text("#state")
        assert page.get_attribute("#seen", "src") is None and page.query_selector_all("#top li") == []  # not hat's
        big = tmp_path / "big.png"  # 48 MP: its answer comes well after a small photo's
        cv2.imwrite(str(big), np.full((6000, 8000, 3), 200, np.uint8))
        page.set_input_files("#pick", big)
        page.set_input_files("#pick", photos / "pants.jpg")  # picked at once after it: the answer shown is this one's
        page.wait_for_function("document.getElementById('label').textContent === 'Trouser'", timeout=10_000)
        page.wait_for_timeout(2_000)  # the big picture's answer has come by now, and is not shown
        assert page.inner_text("#label") == "Trouser" and page.inner_text("#hint").startswith("pants.jpg")
        page.click("#live-link")  # the live page of the same server, on the same port
        page.wait_for_url("**/live")  # loaded: before that, the old page or a half-parsed new one is asked
        page.wait_for_function("document.getElementById('label').textContent === 'Trouser'", timeout=15_000)
        page.screenshot(path=ARTIFACTS / "upload-live.png")
