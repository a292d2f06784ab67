"""`fmnist data fetch photos` against a real HTTP server on 127.0.0.1 serving zip archives the test
writes, laid out as GitHub's archive of the clothing photo set (TOP/<split>/<class>/<photo>.jpg)."""

from __future__ import annotations

import functools
import http.server
import io
import threading
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import DataError, UsageError
from fmnist.data.fetch_photos import PHOTO_COUNTS, PHOTOS_RECORD, fetch_photos
from fmnist.evaluation.photo_set import list_photos

CLASSES = ("dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt")
TINY = {"train": 20, "validation": 10, "test": 10}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def archive(counts: dict[str, int], top: str = "clothing-dataset-small-master",
            method: int = zipfile.ZIP_STORED) -> bytes:
    jpeg = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr(f"{top}/README.md", "clothing photos")
        for split, n in counts.items():
            for i in range(n):
                z.writestr(f"{top}/{split}/{CLASSES[i % len(CLASSES)]}/{i:05d}.jpg", jpeg)
    return buf.getvalue()


class Served(str):
    """The mirror's base URL, with the folder it serves (`root`)."""

    def __new__(cls, url: str, root: Path) -> Served:
        made = super().__new__(cls, url)
        made.root = root
        return made


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("photo-mirror")
    (root / "tiny.zip").write_bytes(tiny := archive(TINY))
    (root / "truncated.zip").write_bytes(tiny[: len(tiny) // 2])
    crc = bytearray(tiny)
    at = crc.index(b"\xff\xd8")  # inside the first stored JPEG: its CRC no longer matches
    crc[at + 20] ^= 0xFF
    (root / "crc.zip").write_bytes(bytes(crc))
    (root / "official.zip").write_bytes(archive(PHOTO_COUNTS))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield Served(f"http://127.0.0.1:{httpd.server_port}/", root)
    httpd.shutdown()


def test_fetch_checks_and_places_the_photo_set(server, tmp_path):
    seen = []
    dest = fetch_photos(tmp_path / "photos", server + "tiny.zip", TINY, progress=lambda *a: seen.append(a))
    assert sorted(p.name for p in dest.iterdir()) == [PHOTOS_RECORD, "test", "train", "validation"]  # photos only
    assert sum(len(v) for v in list_photos(dest / "train").values()) == 20
    assert sorted(list_photos(dest / "validation")) == sorted(CLASSES)
    assert seen[-1][1] == seen[-1][2] == len(archive(TINY))  # the progress bar reached the archive's end
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no temp folder or partial zip left


def test_truncated_or_corrupt_archives_are_rejected_and_keep_the_old_copy(server, tmp_path):
    dest = fetch_photos(tmp_path / "photos", server + "tiny.zip", TINY)
    before = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    with pytest.raises(DataError, match=r"truncated\.zip as the clothing photo archive \(it is not a file"):
        fetch_photos(dest, server + "truncated.zip", TINY)
    with pytest.raises(DataError, match="is corrupt in the photo archive"):
        fetch_photos(dest, server + "crc.zip", TINY)
    with pytest.raises(DataError, match=r"holds train 20 \(expected 3068\)"):
        fetch_photos(dest, server + "tiny.zip")  # the official counts
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


DEPRECATED = ("warning: fmnist data fetch --photos is deprecated, use fmnist data fetch photos (removed in the next "
              "release)\n")


@pytest.mark.slow  # 1.2 s each: the 3,781 photos' archive fetched from a local server, checked and unpacked
@pytest.mark.parametrize("spelling", ["photos", "--photos"])  # the old flag still works, with one warning line
def test_cli_fetch_photos(spelling, server, tmp_path):
    runner = CliRunner()
    got = runner.invoke(app, ["data", "fetch", spelling, "--photos-url", server + "official.zip",
                              "--dest", str(tmp_path / "photos")])
    assert got.exit_code == 0, got.output
    assert got.stderr == (DEPRECATED if spelling == "--photos" else "")
    assert "train/ 3068 photos, validation/ 341 photos, test/ 372 photos" in got.stdout
    assert sum(len(v) for v in list_photos(Path(tmp_path / "photos" / "validation")).values()) == 341
    bad = runner.invoke(app, ["data", "fetch", spelling, "--photos-url", server + "truncated.zip",
                              "--dest", str(tmp_path / "other")])
    assert bad.exit_code == 3 and bad.stderr.removeprefix(DEPRECATED).startswith("error: ")
    assert "Traceback" not in bad.output
    assert not (tmp_path / "other").exists()


def test_a_folder_of_yours_at_the_destination_is_never_touched(server, tmp_path):
    """The old fetch swapped the new set in over whatever folder was there, and removed it: exit 0."""
    mine = tmp_path / "photos"
    (mine / "holiday").mkdir(parents=True)
    (mine / "holiday" / "IMG_0001.jpg").write_bytes(b"irreplaceable")
    got = CliRunner().invoke(app, ["data", "fetch", "photos", "--photos-url", server + "tiny.zip", "--dest", str(mine)])
    assert got.exit_code == 2 and f"is not a photo set fmnist fetched (no {PHOTOS_RECORD} in it)" in got.stderr
    assert (mine / "holiday" / "IMG_0001.jpg").read_bytes() == b"irreplaceable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_an_earlier_set_is_replaced_only_while_it_holds_just_its_own_files(server, tmp_path):
    dest = fetch_photos(tmp_path / "photos", server + "tiny.zip", TINY)
    fetch_photos(dest, server + "tiny.zip", TINY)  # unchanged: replaced
    (dest / "train" / "dress" / "00000.jpg").write_bytes(b"edited")
    (dest / "train" / "my-notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"earlier photo set holding train/dress/00000.jpg \(edited\), "
                                         r"train/my-notes.txt \(not written by fmnist data fetch photos\)"):
        fetch_photos(dest, server + "tiny.zip", TINY)
    assert (dest / "train" / "my-notes.txt").read_text() == "mine"


def test_an_archive_declaring_more_than_its_bound_is_refused_before_it_is_extracted(server, tmp_path):
    """A member whose directory entry declares 500 MB once inflated (a zip bomb's signature): refused from the
    directory, nothing extracted."""
    blob = bytearray(archive(TINY, method=zipfile.ZIP_DEFLATED))
    at = blob.index(b"PK\x01\x02") + 24  # the first directory entry's uncompressed size
    blob[at:at + 4] = (500_000_000).to_bytes(4, "little")
    (Path(server.root) / "bomb.zip").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"bomb.zip as the clothing photo archive: its members inflate to 500 MB, "
                                        r"over the 400 MB"):
        fetch_photos(tmp_path / "photos", server + "bomb.zip", TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("odd", ["/train/dress/0.jpg", "TOP/train/../0.jpg", "../train/dress/0.jpg",
                                 "TOP/train/dress\\\\x/0.jpg", "TOP/train/dress/0.jpg"])
def test_a_member_zipfile_would_write_elsewhere_or_twice_is_refused(server, tmp_path, odd):
    """zipfile strips '/' and '..' as it extracts, so such a member would land elsewhere than the counts say; a
    name given twice would overwrite the first."""
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name": the point of one case
        z.writestr("TOP/train/dress/0.jpg", b"jpeg")
        z.writestr(odd, b"jpeg")
    (Path(server.root) / "odd.zip").write_bytes(blob.getvalue())
    with pytest.raises(DataError, match=r"not a plain TOP/<split>/<class>/<photo> path|twice: not the clothing"):
        fetch_photos(tmp_path / "photos", server + "odd.zip", {"train": 2})
    assert list(tmp_path.iterdir()) == []
