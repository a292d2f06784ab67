"""`fmnist serve`'s classify API over real HTTP on 127.0.0.1: the answers are `classify --json`'s, bad input is one
JSON error with its status (413 before a large body is read, 415 or 400 for what is not an image, 413 for a
decompression bomb), nothing a client sends stops the server, and its OpenAPI description holds for every answer."""

from __future__ import annotations

import http.client
import json
import logging
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
from served import served
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.runtime.video.http.workers import Workers

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
runner = CliRunner()


@pytest.fixture(scope="module")
def api():
    """The shipped photo model on two workers, served; yields the port."""
    with served(Workers(None, 2)) as port:
        yield port


def post(port: int, body: bytes, kind: str = "image/jpeg", query: str = "") -> tuple[int, object]:
    """One POST /classify: (status, the JSON answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", f"/classify{query}", body=body, headers={"Content-Type": kind})
        response = connection.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def form(*files: tuple[str, bytes], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body of these files (and text fields), as a browser sends it: (body, Content-Type)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (fields or {}).items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def cli_rows(*args: str) -> list[dict]:
    got = runner.invoke(app, ["classify", *map(str, PHOTOS), "--json", *args])
    assert got.exit_code == 0, got.output
    return [json.loads(line) for line in got.stdout.splitlines()]


def same_answer(api_row: dict, cli_row: dict) -> None:
    """Equal but for the time taken, with the scores within 0.001."""
    assert set(api_row) == set(cli_row)
    for key in set(cli_row) - {"ms", "score", "top"}:
        assert api_row[key] == cli_row[key], key
    assert api_row["score"] == pytest.approx(cli_row["score"], abs=1e-3)
    assert [(g["label"], g["index"]) for g in api_row["top"]] == [(g["label"], g["index"]) for g in cli_row["top"]]
    assert [g["score"] for g in api_row["top"]] == pytest.approx([g["score"] for g in cli_row["top"]], abs=1e-3)


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """An answer's head and its body (Content-Length bytes), read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        assert got, f"the server closed without an answer: {data!r:.200}"
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def healthy(port: int) -> None:
    status, body = get(port, "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_the_answers_are_classify_json_s_for_every_sample_photo_raw_or_in_a_form(api):
    expected = cli_rows()
    for photo, row in zip(PHOTOS, expected, strict=True):
        status, answer = post(api, photo.read_bytes(), query=f"?name={row['input']}")
        assert status == 200
        same_answer(answer, row)
    status, answers = post(api, *form(*((p.name, p.read_bytes()) for p in PHOTOS), fields={"note": "ignored"}))
    assert status == 200 and [a["input"] for a in answers] == [p.name for p in PHOTOS]  # each file's own name
    for answer, row in zip(answers, expected, strict=True):
        same_answer(answer, row | {"input": answer["input"]})


def test_top_and_threshold_are_classify_s_options(api):
    expected = cli_rows("--top", "5", "--threshold", "0.8")
    for photo, row in zip(PHOTOS, expected, strict=True):
        status, answer = post(api, photo.read_bytes(), "application/octet-stream",
                              f"?top=5&threshold=0.8&name={row['input']}")
        assert status == 200 and len(answer["top"]) == 5 and answer["threshold"] == 0.8
        same_answer(answer, row)
    assert any(not row["sure"] for row in expected) and any(row["sure"] for row in expected)  # both decisions met
    status, answer = post(api, PHOTOS[0].read_bytes(), query="?seen=1")
    assert status == 200 and answer["seen"].startswith("data:image/png;base64,")  # what the model saw, as asked


@pytest.mark.parametrize(("query", "message"), [
    ("?top=0", "top=0: give 1 to 10"), ("?top=11", "top=11"), ("?top=two", "'two' is not a whole number"),
    ("?threshold=1.5", "threshold=1.5: give a probability"), ("?threshold=nan", "'nan' is not a number"),
    ("?treshold=0.5", "unknown query parameter 'treshold'"), ("?seen=null", "seen='null': give true or false"),
    ("?top=1&top=5", "query parameter 'top' is given 2 times; give it once"),
])
def test_bad_query_parameters_are_a_400_that_says_which(api, query, message):
    status, answer = post(api, PHOTOS[0].read_bytes(), query=query)
    assert status == 400 and message in answer["error"]


def test_a_30_mb_body_is_refused_413_before_it_is_read_and_the_server_serves_on(api):
    with socket.create_connection(("127.0.0.1", api), timeout=10) as sock:
        sock.sendall(b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 30000000\r\n\r\n" + bytes(1_000_000))  # 1 MB of the 30 sent
        head, body = read_answer(sock)  # answered while 29 MB are still to come
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body)["error"].startswith("the body is 30,000,000 bytes, over the 20,000,000-byte limit")
    connection = http.client.HTTPConnection("127.0.0.1", api, timeout=30)  # no length: refused as it grows
    connection.request("POST", "/classify", body=(bytes(1_000_000) for _ in range(30)),
                       headers={"Content-Type": "image/jpeg"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "over the 20,000,000-byte limit" in json.loads(response.read())["error"]
    connection.close()
    healthy(api)


def test_bodies_held_at_once_are_bounded_a_request_past_them_gets_a_503_before_its_body_is_read():
    """60 connections each sending a 20 MB body took 1.3 GB of the server; now the bodies held at once are bounded
    (here 3 MB): a request that would pass them is refused at once, and the bytes are given back with the answer."""
    head = (b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 1000000\r\n\r\n")
    with served(Workers(None, 1), max_held=3_000_000) as port:
        uploading = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for sock in uploading:
            sock.sendall(head + bytes(500_000))  # half of each body: 3 MB held
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head)
            answered, body = read_answer(sock)  # at once: its body is never sent
        assert answered.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in answered.lower()
        assert "would be held at once, over 3,000,000" in json.loads(body)["error"]
        uploading[0].sendall(bytes(500_000))  # one body whole: answered (not an image), its bytes given back
        assert read_answer(uploading[0])[0].startswith(b"HTTP/1.1 400 ")
        assert post(port, PHOTOS[0].read_bytes())[0] == 200  # 1 MB free again: served
        for sock in uploading:
            sock.close()
        healthy(port)


def test_a_client_that_shuts_its_side_after_a_whole_request_gets_its_answer_then_the_end(api):
    """nc -N and socat scripts send a request, then shut their side: the answer still comes, then the close."""
    photo = PHOTOS[4].read_bytes()  # pants.jpg
    with socket.create_connection(("127.0.0.1", api), timeout=10) as sock:
        sock.sendall(b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                     + f"Content-Length: {len(photo)}\r\n\r\n".encode() + photo)
        sock.shutdown(socket.SHUT_WR)
        head, body = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["label"] == "Trouser"
        assert sock.recv(100) == b""  # then the server closes
    healthy(api)


def docs_classify(path: Path, url: str) -> dict:
    """docs/raspberry-pi.md's Python client, as it is written there: urllib, which sends the whole body before it
    reads the answer (no Expect: 100-continue)."""
    import urllib.request

    request = urllib.request.Request(url, data=open(path, "rb").read(),  # noqa: SIM115 (as the docs write it)
                                     headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def test_the_docs_urllib_client_reads_the_413_of_a_30_mb_body_not_a_reset(api, tmp_path):
    import urllib.error

    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(30_000_000))
    for _ in range(2):  # and again: the first refusal left the server as it was
        with pytest.raises(urllib.error.HTTPError) as refused:
            docs_classify(big, f"http://127.0.0.1:{api}/classify")
        assert refused.value.code == 413
        assert json.load(refused.value)["error"].startswith("the body is 30,000,000 bytes, over the 20,000,000")
    assert docs_classify(PHOTOS[4], f"http://127.0.0.1:{api}/classify")["label"] == "Trouser"


def test_a_body_that_does_not_arrive_in_time_is_a_408_and_the_server_serves_on():
    with served(Workers(None, 1), body_seconds=0.5) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                         b"Content-Length: 1000\r\n\r\n" + bytes(10))  # 10 bytes of 1000, then nothing
            head, body = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 408 ") and 0.4 < time.monotonic() - started < 2
        assert json.loads(body)["error"] == "the body did not arrive within 0.5 s; send it faster, or a smaller image"
        healthy(port)


def test_clients_that_go_away_mid_body_print_nothing_and_the_server_serves_on(api, capfd):
    body, kind = form(("a.jpg", PHOTOS[0].read_bytes()))
    for head, sent in ((b"Content-Type: image/jpeg", PHOTOS[0].read_bytes()), (f"Content-Type: {kind}".encode(), body)):
        for close in (socket.socket.close, reset):
            sock = socket.create_connection(("127.0.0.1", api), timeout=10)
            sock.sendall(b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\nContent-Length: "
                         + str(len(sent)).encode() + b"\r\n\r\n" + sent[: len(sent) // 2])  # half, then gone
            time.sleep(0.1)
            close(sock)
    time.sleep(0.3)
    healthy(api)
    assert capfd.readouterr().err == ""  # no traceback, nothing at all


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed browser tab or a dropped Wi-Fi link does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_what_is_not_an_image_is_a_415_or_400_with_a_json_error(api, capfd, caplog):
    status, answer = post(api, b"hello", "text/plain")
    assert status == 415 and answer["error"].startswith("Content-Type 'text/plain': send one image's bytes")
    status, answer = post(api, PHOTOS[0].read_bytes(), "application/octet-streamy")  # not octet-stream
    assert status == 415 and answer["error"].startswith("Content-Type 'application/octet-streamy'")
    status, answer = post(api, b"hello, I am text", "image/jpeg", "?name=notes.txt")
    assert status == 400 and answer == {"input": "notes.txt", "error": "notes.txt: not an image fmnist reads: it is "
                                        "not a JPEG, PNG, TIFF, WebP, BMP or GIF; save it as JPEG or PNG"}
    status, answer = post(api, PHOTOS[0].read_bytes()[:2000])  # a JPEG cut short
    assert status == 400 and answer["error"].startswith("body: ")
    status, answer = post(api, b"")
    assert status == 400 and answer["error"] == "body: empty file"
    status, answer = post(api, *form(("a.txt", b"text"), ("b.jpg", PHOTOS[0].read_bytes())))
    assert status == 400 and answer["error"].startswith("1 of 2 files could not be classified: a.txt: not an image")
    assert [r["input"] for r in answer["results"]] == ["a.txt", "b.jpg"] and "label" in answer["results"][1]
    status, answer = post(api, *form(fields={"file": "not a file"}))  # curl -F 'file=<photo.jpg' sends no filename
    assert status == 400 and answer["error"].startswith("the form holds no file (its field 'file' is text: a part "
                                                        "with no filename)")
    status, answer = post(api, b"--x\r\nbroken", "multipart/form-data; boundary=x")
    assert status == 400 and "cut short" in answer["error"]
    status, answer = post(api, b'--x\r\nContent-Disposition: form-data; name="f"; filename="a.jpg"\r\nBad[Name: 1\r\n'
                               b"\r\nabc\r\n--x--\r\n", "multipart/form-data; boundary=x")
    assert status == 400 and answer["error"].startswith("the multipart form cannot be read (")
    status, answer = post(api, *form(*[(f"{i}.jpg", PHOTOS[0].read_bytes()) for i in range(17)]))  # one too many
    assert status == 400 and answer["error"].endswith("; send at most 16 files in one request")
    status, answer = post(api, b"--x\r\n", "multipart/form-data")  # a hand-made header: no boundary
    assert status == 400 and "its Content-Type names no boundary" in answer["error"]
    healthy(api)
    # a client's malformed form is its business: nothing on the server's stderr, nor logged to reach it
    assert capfd.readouterr().err == "" and not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_libjpeg_s_and_opencv_s_notes_on_a_bad_upload_do_not_reach_the_server_s_stderr(api, capfd):
    import cv2

    jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    end = jpeg.rindex(b"\xff\xd9")
    extraneous = jpeg[:end] + bytes(297) + jpeg[end:]  # libjpeg: "Corrupt JPEG data: ... extraneous bytes"
    gif = bytes.fromhex("474946383961010001008000000000000000ffffff21f9041c000000002c00000000010001000002024401003b")
    status, answer = post(api, extraneous)
    assert status == 200 and "label" in answer  # decoded, as classify decodes it
    status, answer = post(api, gif, "image/gif")  # a disposal method OpenCV refuses, with its [ERROR:...] log
    assert status == 400 and "error" in answer
    assert capfd.readouterr().err == ""
    healthy(api)


def bomb_png(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height black pixels (height a multiple of 100), deflated to under a MB: a
    decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(1)  # the fastest: 0.6 MB for 144 MP
    rows = bytes(width + 1) * 100  # each row: filter byte 0, then the row
    pixels = b"".join(deflate.compress(rows) for _ in range(height // 100)) + deflate.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.mark.slow
def test_while_an_upload_decodes_the_server_s_own_lines_still_reach_its_stderr():
    """Muting fd 2 for a decoder's notes once hid the live loop's progress lines and would have hidden a fault's
    traceback: a serving process keeps Python's stderr apart, so only the native libraries' writes are muted."""
    code = ("import os, sys\nfrom fmnist.runtime.video.http.muted import keep_python_stderr, muted\n"
            "keep_python_stderr()\nwith muted():\n    print('frame 555', file=sys.stderr)\n"
            "    os.write(2, b'Corrupt JPEG data: 297 extraneous bytes\\n')\nos.write(2, b'native after\\n')\n"
            "print('stopped', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == "frame 555\nnative after\nstopped\n"


def test_a_decompression_bomb_is_refused_413_from_its_header_before_it_is_decoded(api):
    bomb = bomb_png(12_000, 12_000)  # 144 MP, 144 MB decoded
    assert len(bomb) < 1_000_000
    started = time.monotonic()
    status, answer = post(api, bomb, "image/png", "?name=bomb.png")
    assert status == 413 and answer["error"] == ("bomb.png: 12000x12000 is 144 megapixels, over the 100 MP limit; "
                                                 "downscale it first")
    assert time.monotonic() - started < 0.5  # refused from its header: decoding 144 MP takes seconds
    status, answer = post(api, *form(("bomb.png", bomb), ("ok.jpg", PHOTOS[0].read_bytes())))
    assert status == 413 and answer["error"].startswith("1 of 2 files could not be classified: bomb.png: 12000x12000")
    healthy(api)


@pytest.mark.slow
def test_large_images_wait_for_their_turn_holding_no_worker_so_small_photos_are_not_held_up(api):
    large = bomb_png(9_000, 9_000)  # 81 MP grey: decoded one at a time (over 64 MB), in a fraction of a second
    started = time.monotonic()
    assert post(api, large, "image/png")[0] == 200
    one_large = time.monotonic() - started
    waiting = [threading.Thread(target=post, args=(api, large, "image/png")) for _ in range(5)]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)  # all five sent: one decodes, four wait for their turn
    started = time.monotonic()
    assert post(api, PHOTOS[4].read_bytes())[1]["label"] == "Trouser"  # type: ignore[index]
    small = time.monotonic() - started
    for thread in waiting:
        thread.join()
    assert small < one_large  # served by the other worker at once, not after the large images ahead of it


@pytest.mark.parametrize(("suffix", "shape", "dtype"), [
    (".png", (50, 60, 4), np.uint8), (".png", (40, 30), np.uint16), (".tif", (30, 20, 3), np.uint16),
    (".webp", (50, 60, 3), np.uint8), (".bmp", (50, 61), np.uint8), (".jpg", (64, 48, 3), np.uint8),
])
def test_an_upload_decodes_as_the_same_file_on_disk_does(tmp_path, suffix, shape, dtype):
    """read_image_bytes (an upload, from a memfd) and read_image (a file) give the same array: alpha, depth, grey."""
    import cv2

    from fmnist.runtime.image import read_image, read_image_bytes

    top = np.iinfo(dtype).max
    encoded = cv2.imencode(suffix, np.random.default_rng(0).integers(0, top, shape, dtype=dtype))[1].tobytes()
    (tmp_path / f"x{suffix}").write_bytes(encoded)
    from_file, uploaded = read_image(tmp_path / f"x{suffix}"), read_image_bytes(encoded, f"x{suffix}")
    assert uploaded.dtype == from_file.dtype and np.array_equal(uploaded, from_file)


def test_health_names_the_model_its_sha256_and_labels(api):
    import hashlib

    from fmnist.runtime.classifier import default_model

    status, body = get(api, "/health")
    health = json.loads(body)
    assert status == 200 and health["model"] == "photo.int8.onnx" and health["workers"] == 2
    assert health["sha256"] == hashlib.sha256(default_model().read_bytes()).hexdigest()
    assert health["labels"][:2] == ["T-shirt/top", "Trouser"] and len(health["labels"]) == 10


def test_unknown_paths_and_methods_are_json_errors(api):
    status, body = get(api, "/nope")
    assert status == 404 and json.loads(body) == {"error": "no '/nope' here; see /openapi.json"}
    status, body = get(api, "/classify")
    assert status == 405 and "GET is not answered at '/classify'" in json.loads(body)["error"]
    for path in ("/live", "/stream", "/status", "/seen.png"):  # the live page's, on a server with no --source
        status, body = get(api, path)
        assert status == 404 and json.loads(body)["error"].startswith(f"no {path} here: the live page needs a "
                                                                      "source (fmnist serve --source 0"), path
    paths = json.loads(get(api, "/openapi.json")[1])["paths"]
    assert "405" in paths["/classify"]["post"]["responses"] and "/nope" not in paths  # as the description says
    for path in paths:  # every path it lists is answered (a GET or the POST), none 404
        assert get(api, path)[0] in (200, 405), path


def test_every_answer_holds_to_the_openapi_description(api):
    status, body = get(api, "/openapi.json")
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.1") and "/live" not in spec["paths"]
    operation = spec["paths"]["/classify"]["post"]
    assert {"image/*", "application/octet-stream", "multipart/form-data"} == set(operation["requestBody"]["content"])
    outcome = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"][0]
    for status, answer in [post(api, PHOTOS[0].read_bytes(), query="?seen=1"), post(api, b"x"),
                           post(api, *form(("a.jpg", PHOTOS[1].read_bytes())))]:
        assert str(status) in operation["responses"]
        for row in answer if isinstance(answer, list) else [answer]:
            assert set(outcome["required"]) <= set(row) <= set(outcome["properties"]), row
    health = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(json.loads(get(api, "/health")[1])) == set(health["required"])


def test_eight_clients_at_once_on_keep_alive_connections_are_all_answered(api):
    photos = [p.read_bytes() for p in PHOTOS]
    statuses: list[int] = []

    def client(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", api, timeout=30)
        for i in range(6):
            connection.request("POST", "/classify", body=photos[(k + i) % len(photos)],
                               headers={"Content-Type": "image/jpeg"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 48


@pytest.mark.slow
def test_the_server_and_its_workers_import_no_training_side_module():
    heavy = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib")
    code = ("import sys\nimport fmnist.runtime.video.http.served\n"
            "from fmnist.runtime.video.http.workers import Asked, Upload, "
            f"Workers\nanswer = Workers(None, 1).classify_now(Upload('p.jpg', open({str(PHOTOS[4])!r}, 'rb').read()), "
            f"Asked())\nprint(answer.outcome.result.best.label, [m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Trouser []"


def test_a_taken_port_is_refused_before_the_model_is_opened():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        got = runner.invoke(app, ["serve", "--port", str(port), "--model", "/nonexistent.onnx"])
    assert got.exit_code == 2 and got.stderr.startswith(f"error: --host 127.0.0.1 --port {port}: Address already in "
                                                        f"use; pick another port, e.g. --host 127.0.0.1 --port "
                                                        f"{port + 1}")


def started_url(process: subprocess.Popen) -> str:
    """The address `fmnist serve` says it serves on (its first line on stderr)."""
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return found.group(1)
    pytest.fail("fmnist serve printed no address")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_fmnist_serve_answers_curl_s_own_upload_and_stops_on_sigterm():
    """The command as a user runs it, driven by a client that is not fmnist's (curl builds its own form)."""
    process = subprocess.Popen([Path(sys.executable).parent / "fmnist", "serve", "--port", "0", "--threads", "1"],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = started_url(process)
        got = subprocess.run(["curl", "-sS", "-F", f"file=@{PHOTOS[6]}", "-F", f"file=@{PHOTOS[7]}", f"{url}classify"],
                             capture_output=True, text=True, timeout=30)
        answers = json.loads(got.stdout)
        expected = [row for row in cli_rows() if Path(row["input"]).name in (PHOTOS[6].name, PHOTOS[7].name)]
        for answer, row in zip(answers, expected, strict=True):
            same_answer(answer, row | {"input": answer["input"]})
        raw = subprocess.run(["curl", "-sS", "--data-binary", f"@{PHOTOS[0]}", "-H", "Content-Type: image/jpeg",
                              f"{url}classify"], capture_output=True, text=True, timeout=30)
        assert json.loads(raw.stdout)["label"] == cli_rows()[0]["label"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None and process.stderr.read() == "stopped by SIGTERM\n"
    finally:
        process.kill()
        process.wait()


def test_serve_with_a_source_that_cannot_open_says_only_that_never_serving():
    got = runner.invoke(app, ["serve", "--port", "0", "--threads", "1", "--source", "/nonexistent/clip.mp4"])
    assert got.exit_code == 1 and got.stderr.startswith("error: cannot open --source")
    assert "serving" not in got.stderr


@pytest.mark.slow
@pytest.mark.parametrize("damaged", [False, True])
def test_serve_with_a_source_serves_the_api_on_after_the_video_ends_until_sigterm(tmp_path, damaged):
    """A video that plays to its end, or one none of whose frames decodes (its error said): the API serves on."""
    import cv2

    from tests.live_sources import damage_packets

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (64, 48))
    for i in range(10):  # 0.2 s, played in real time
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    if damaged:
        damage_packets(clip, keep=())
    process = subprocess.Popen([Path(sys.executable).parent / "fmnist", "serve", "--port", "0", "--threads", "1",
                                "--source", str(clip)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        port = int(started_url(process).rsplit(":", 1)[1].strip("/"))
        assert process.stderr is not None
        assert process.stderr.readline().startswith("source file")  # after the address: the source had opened
        while "the source has ended, the classify API serves on" not in process.stderr.readline():  # frame lines
            assert process.poll() is None
        healthy(port)
        assert json.loads(get(port, "/status")[1])["source_ended"] is True
        status, body = get(port, "/stream")  # no empty stream held open: the source is gone
        assert status == 404 and json.loads(body)["error"].startswith("the live source has ended")
        assert post(port, PHOTOS[4].read_bytes())[1]["label"] == "Trouser"  # type: ignore[index]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0 and process.stderr.read() == "stopped by SIGTERM\n"
    finally:
        process.kill()
        process.wait()
