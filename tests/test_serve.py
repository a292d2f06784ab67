"""The preview server (`fmnist live --serve`) against real sockets on 127.0.0.1: connections bounded in number and
time, quiet about clients that go away, and a loopback bind deaf to other Host names (DNS rebinding)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from fmnist.runtime.video import serve


@pytest.fixture
def start_server() -> Iterator[Callable[..., serve.PreviewServer]]:
    """serve.start on 127.0.0.1, a free port; every server started is shut down after the test."""
    started: list[serve.PreviewServer] = []

    def start(preview: serve.Preview | None = None, **limits: float) -> serve.PreviewServer:
        started.append(serve.start("127.0.0.1:0", preview or serve.Preview("m.onnx"), **limits))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def get(port: int, path: str = "/", host: str | None = None) -> tuple[int, bytes]:
    """One GET with this Host header (default 127.0.0.1:port, as a browser sends it): (status, body)."""
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host if host is not None else f'127.0.0.1:{port}'}\r\n\r\n"
                     .encode())
        head, _, body = read_to_end(sock).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed browser tab or a dropped Wi-Fi link does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_connections_beyond_the_cap_get_503_at_once_and_the_page_returns_when_idle_ones_time_out(start_server):
    port = start_server(timeout=1.0, max_clients=4).server_port
    idle = [connect(port) for _ in range(4)]  # connected, never a byte sent: a port scanner, a preconnect
    started = time.monotonic()
    with connect(port) as extra:
        assert read_to_end(extra).startswith(b"HTTP/1.0 503 ")  # told at once, and closed
    status, body = get(port)
    assert status == 503 and body.startswith(b"busy: ") and time.monotonic() - started < 0.5
    for sock in idle:
        assert sock.recv(1) == b""  # closed by the server after its timeout
        sock.close()
    assert time.monotonic() - started < 2.5
    status, body = get(port)
    assert status == 200 and b"m.onnx" in body  # the page again, for a normal client


def test_a_request_sent_a_byte_at_a_time_is_cut_off_at_the_timeout(start_server):
    port = start_server(timeout=0.5).server_port
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


def test_a_loopback_bind_answers_only_loopback_host_names(start_server):
    port = start_server().server_port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"localhost:{port + 1}", ""):
        status, body = get(port, "/status", host)
        assert status == 421 and b"Host: localhost, 127.0.0.1 or [::1]" in body, host
    for host in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}", "LocalHost"):
        assert get(port, "/status", host)[0] == 200, host
    assert serve.loopback_hosts("0.0.0.0", 8080) is None  # a LAN bind's names are the network's: not checked
    assert serve.loopback_hosts("192.168.1.20", 8080) is None
    assert "[::1]:8080" in serve.loopback_hosts("::1", 8080) and "127.0.0.2" in serve.loopback_hosts("127.0.0.2", 80)


def test_viewers_that_reset_or_stop_reading_print_no_traceback_and_the_server_serves_on(start_server, capfd):
    preview = serve.Preview("m.onnx")
    port = start_server(preview, timeout=0.5).server_port
    stop = threading.Event()

    def publish() -> None:  # large frames, 100 a second: writes are under way when a viewer goes
        while not stop.is_set():
            preview.publish(bytes(200_000), {"label": "x"})
            time.sleep(0.01)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its window fills at once
        stalled.connect(("127.0.0.1", port))
        for _ in range(3):
            with connect(port) as sock:
                sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.0 200 ")
                sock.recv(65536)
                reset(sock)  # mid-stream
            with connect(port) as sock:
                sock.sendall(b"GET /stat")
                reset(sock)  # mid-request
        stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")  # and never read
        time.sleep(1.5)  # the server's writes hit the resets, and the stalled viewer's write times out
        stalled.settimeout(5)
        assert read_to_end(stalled).startswith(b"HTTP/1.0 200 ")  # what was sent, then the server's close
        stalled.close()
        assert get(port, "/status")[0] == 200
    finally:
        stop.set()
        publisher.join()
    assert capfd.readouterr().err == ""  # no traceback, nothing at all
