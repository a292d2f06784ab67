"""The HTTP server under `fmnist live --serve` and `fmnist serve` (Starlette on uvicorn, fmnist.runtime.video.http)
against real sockets on 127.0.0.1: requests bounded in number (503 at once beyond the cap) and in time (a head that
does not arrive, or arrives a byte at a time, is cut off), quiet about clients that go away, and a loopback bind deaf
to other Host names (DNS rebinding)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from served import served

from fmnist.runtime.video.http.limits import loopback_hosts
from fmnist.runtime.video.preview import Preview


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def get(port: int, path: str = "/", host: str | None = None, close_after_head: bool = False) -> tuple[int, bytes]:
    """One GET with this Host header (default 127.0.0.1:port, as a browser sends it): (status, body); the
    status alone when `close_after_head` (a stream)."""
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host if host is not None else f'127.0.0.1:{port}'}\r\n"
                     "Connection: close\r\n\r\n".encode())
        head, _, body = (sock.recv(65536) if close_after_head else read_to_end(sock)).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed browser tab or a dropped Wi-Fi link does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def dropped(sock: socket.socket) -> bytes:
    """What a viewer the server dropped still reads, up to the server's close or reset."""
    chunks = []
    with sock:
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def watch(port: int) -> socket.socket:
    """A viewer of /stream whose answer has started."""
    sock = connect(port)
    sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    return sock


def test_streams_beyond_their_cap_get_503_at_once_and_hold_no_request_slot():
    with served(preview=Preview("m.onnx"), max_requests=2, max_streams=4) as port:
        viewers = [watch(port) for _ in range(4)]  # four streams watched, none read: more than max_requests
        started = time.monotonic()
        status, body = get(port, "/stream")
        assert status == 503 and json.loads(body)["error"].startswith("busy: 4 streams are watched at once")
        assert time.monotonic() - started < 0.5  # told at once
        for path in ("/status", "/health", "/"):
            assert get(port, path)[0] in (200, 404), path  # the other routes are served meanwhile (no /health here)
        assert get(port, "/status")[0] == 200
        for sock in viewers:
            reset(sock)
        time.sleep(0.3)  # the server sees them go
        assert get(port, "/stream", close_after_head=True)[0] == 200  # a stream again


def slow_body(port: int, path: str = "/classify") -> socket.socket:
    """A client that announces a 1 MB body and sends 10 bytes of it (then nothing, for now)."""
    sock = connect(port)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\n"
                 "Content-Length: 1000000\r\n\r\n".encode() + bytes(10))
    return sock


def test_clients_still_sending_their_body_hold_no_slot_and_health_is_never_capped():
    from fmnist.runtime.video.http.workers import Workers

    photo = (Path(__file__).resolve().parent.parent / "examples" / "photos" / "shirt.jpg").read_bytes()
    with served(Workers(None, 1), max_requests=2) as port:
        slow = [slow_body(port) for _ in range(4)]  # more than max_requests, each with its body under way
        time.sleep(0.2)
        assert get(port, "/health")[0] == 200
        status, body = post(port, photo)
        assert status == 200 and "label" in json.loads(body)
        for sock in slow:
            sock.close()
    with served(Workers(None, 1), max_requests=0) as port:  # every slot taken: the cap answers, /health does not
        assert get(port, "/health")[0] == 200
        status, body = get(port, "/")
        assert status == 503 and json.loads(body)["error"].startswith("busy: fmnist serves 0 requests at once")
        status, body = post(port, photo)  # refused once its body has come: read whole, so the answer arrives
        assert status == 503 and json.loads(body)["error"].startswith("busy: fmnist serves 0 requests at once")


def post(port: int, data: bytes) -> tuple[int, bytes]:
    with connect(port) as sock:
        sock.sendall(f"POST /classify HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        head, _, body = read_to_end(sock).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_connections_that_send_nothing_are_closed_at_the_timeout_and_others_are_served_meanwhile():
    with served(preview=Preview("m.onnx"), timeout=0.5) as port:
        idle = [connect(port) for _ in range(8)]  # connected, never a byte sent: a port scanner, a preconnect
        started = time.monotonic()
        assert get(port, "/status")[0] == 200  # served while they wait
        for sock in idle:
            assert sock.recv(1) == b""  # closed by the server after its timeout
            sock.close()
        assert 0.4 < time.monotonic() - started < 2.0


def test_a_request_sent_a_byte_at_a_time_is_cut_off_at_the_timeout():
    with served(preview=Preview(), timeout=0.5) as port:
        started = time.monotonic()
        with connect(port) as sock:
            for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n":
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    break  # the server closed it
                time.sleep(0.05)  # 20 bytes a second: each byte within the timeout, the request not
            assert read_to_end(sock) == b""  # no answer: the connection was closed
        assert time.monotonic() - started < 2.2


def test_a_loopback_bind_answers_only_loopback_host_names():
    with served(preview=Preview()) as port:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"localhost:{port + 1}", ""):
            status, body = get(port, "/status", host)
            assert status == 421 and "Host: localhost, 127.0.0.1 or [::1]" in json.loads(body)["error"], host
        for host in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}",
                     "LocalHost"):
            assert get(port, "/status", host)[0] == 200, host
    assert loopback_hosts("0.0.0.0", 8080) is None  # a LAN bind's names are the network's: not checked
    assert loopback_hosts("192.168.1.20", 8080) is None
    assert "[::1]:8080" in loopback_hosts("::1", 8080) and "127.0.0.2" in loopback_hosts("127.0.0.2", 80)
    mapped = loopback_hosts("::ffff:127.0.0.1", 8080)  # 127.0.0.1 written as IPv6: loopback, checked
    assert mapped is not None and "[::ffff:127.0.0.1]:8080" in mapped and "evil.com" not in mapped


def test_a_bind_to_every_network_names_a_url_a_browser_opens_and_how_other_machines_reach_it():
    """A browser may refuse http://0.0.0.0:PORT/, the address such a bind has."""
    from fmnist.runtime.video.http.server import bind, network_note, url_of

    with bind("0.0.0.0", 0) as every, bind("127.0.0.1", 0) as local:
        port = every.getsockname()[1]
        assert url_of(every) == f"http://127.0.0.1:{port}/"
        assert network_note(every) == f"on every network (0.0.0.0): from another machine, this machine's address " \
                                      f"and port {port}"
        assert url_of(local) == f"http://127.0.0.1:{local.getsockname()[1]}/" and network_note(local) is None


def test_an_empty_host_is_a_usage_error_not_a_bind_to_every_network():
    from typer.testing import CliRunner

    from fmnist.cli import app

    got = CliRunner().invoke(app, ["serve", "--host", "", "--port", "0", "--model", "/nonexistent.onnx"])
    assert got.exit_code == 2 and got.stderr == ("error: --host '': the host is empty; give 127.0.0.1 (this machine "
                                                 "only) or 0.0.0.0 (every network)\n")


@pytest.mark.slow
def test_viewers_that_reset_or_stop_reading_print_no_traceback_and_the_server_serves_on(capfd):
    preview = Preview("m.onnx")
    stop = threading.Event()

    def publish() -> None:  # large frames, 100 a second: writes are under way when a viewer goes
        while not stop.is_set():
            preview.publish(bytes(200_000), {"label": "x"})
            time.sleep(0.01)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        with served(preview=preview, timeout=0.5) as port:
            stalled = socket.socket()
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its window fills at once
            stalled.connect(("127.0.0.1", port))
            for _ in range(3):
                with connect(port) as sock:
                    sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
                    sock.recv(65536)
                    reset(sock)  # mid-stream
                with connect(port) as sock:
                    sock.sendall(b"GET /stat")
                    reset(sock)  # mid-request
            stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")  # and never read
            assert get(port, "/status")[0] == 200  # served while the stalled viewer holds its stream
            time.sleep(1.5)  # the server's writes hit the resets, and the stalled viewer's write times out
            stalled.settimeout(5)
            reading = time.monotonic()
            assert dropped(stalled).startswith(b"HTTP/1.1 200 ")  # what was sent, then the server's abort
            assert time.monotonic() - reading < 3  # dropped: its stream did not go on once it read again
            assert get(port, "/status")[0] == 200
    finally:
        stop.set()
        publisher.join()
    assert capfd.readouterr().err == ""  # no traceback, nothing at all


def test_streams_end_when_the_preview_closes_and_the_server_stops_promptly():
    preview = Preview("m.onnx")
    with served(preview=preview) as port:
        viewer = watch(port)
        preview.publish(b"\xff\xd8jpeg", {"frame": 1})
        preview.close()
        viewer.settimeout(5)
        got = b""
        while not got.endswith(b"0\r\n\r\n"):  # the chunked stream's end: a finished answer
            got += viewer.recv(65536)
        viewer.close()
        started = time.monotonic()
    assert time.monotonic() - started < 1.5


def raw(port: int, request: bytes) -> tuple[bytes, bytes]:
    """One request sent as these bytes: the answer's head and body."""
    with connect(port) as sock:
        sock.sendall(request)
        head, _, body = read_to_end(sock).partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("request_bytes", [
    b"POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
    b"POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nhello",
    b"POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "GET /status?q=é HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(),
])
def test_a_malformed_request_is_a_json_400(request_bytes):
    with served(preview=Preview()) as port:
        head, body = raw(port, request_bytes)
    assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"].startswith("the request is not valid HTTP/1.1")


def test_headers_over_the_limit_are_a_json_431_however_they_arrive_and_the_server_serves_on():
    from fmnist.runtime.video.http.request_head import MAX_HEAD_BYTES

    def head(cookie: int) -> bytes:
        return (f"GET /status HTTP/1.1\r\nHost: localhost\r\nCookie: {'a' * cookie}\r\n"
                "Connection: close\r\n\r\n").encode()

    with served(preview=Preview()) as port:
        for cookie in (MAX_HEAD_BYTES, 300_000):  # whole in one read (h11 parses it), or still coming past its buffer
            head_seen, body = raw(port, head(cookie))
            assert head_seen.startswith(b"HTTP/1.1 431 ") and b"content-type: application/json" in head_seen.lower()
            said = json.loads(body)["error"]
            assert said.startswith(f"the request's line and headers are over {MAX_HEAD_BYTES // 1024} KB"), cookie
        assert raw(port, head(8_000))[0].startswith(b"HTTP/1.1 200 ")  # a browser's largest cookies pass


def test_a_long_chunk_line_is_a_400_for_the_body_not_a_431_and_prints_nothing(capfd):
    """h11 advises 431 for any line past its buffer, a chunk's too; the request the app was handed ends quietly."""
    with served(preview=Preview()) as port:
        head, body = raw(port, b"POST /status HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;"
                               + b"x" * 20_000)
        assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body)["error"].startswith("the request is not valid")
        time.sleep(0.3)  # the app's own end of the request, had it printed anything
        assert get(port, "/status")[0] == 200
    assert capfd.readouterr().err == ""


def test_a_request_line_naming_the_whole_url_is_routed_on_its_path_and_host_checked_on_its_host():
    with served(preview=Preview()) as port:
        status, body = get(port, f"http://127.0.0.1:{port}/status?", host="evil.example")
        assert status == 200 and "source_ended" not in json.loads(body)  # the URL's host is the Host
        status, body = get(port, f"HTTP://localhost:{port}", host=f"127.0.0.1:{port}")  # no path: the root
        assert status == 200 and b"<html" in body.lower()
        status, body = get(port, "http://evil.example/status", host=f"127.0.0.1:{port}")  # rebinding, in the URL
        assert status == 421 and "Host: localhost" in json.loads(body)["error"]
        for url in ("http://[::1/status", f"http://evil:80@127.0.0.1:{port}/status",
                    f"http://evil.example\\@127.0.0.1:{port}/status"):
            status, body = get(port, url, host=f"127.0.0.1:{port}")
            assert status == 400 and json.loads(body)["error"].startswith("the request is not valid"), url


def test_over_the_open_connections_a_json_503_with_retry_after_and_health_still_answers():
    from fmnist.runtime.video.http.limits import MAX_CONNECTIONS
    from fmnist.runtime.video.http.workers import Workers

    with served(Workers(None, 1)) as port:
        idle = [connect(port) for _ in range(MAX_CONNECTIONS)]  # open, never a request: a scanner's
        time.sleep(0.2)
        head, body = raw(port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in head.lower()
        assert json.loads(body)["error"].startswith(f"busy: {MAX_CONNECTIONS} connections are open at once")
        head, body = raw(port, b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["status"] == "ok"
        for sock in idle:
            sock.close()


def test_stream_answers_get_only_and_live_serve_s_404_points_to_no_missing_description():
    with served(preview=Preview()) as port:
        head, body = raw(port, b"POST /stream HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405 ") and json.loads(body) == {"error": "POST is not answered at '/stream'"}
        status, body = get(port, "/nope")
        assert status == 404 and json.loads(body) == {"error": "no '/nope' here"}  # live --serve has no /openapi.json
