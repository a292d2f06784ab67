"""Hostile sources for `fmnist live`, made the way an attacker or a broken device makes them: real MJPEG .avi files
written by cv2.VideoWriter and then damaged in place (packets of random bytes, a header declaring an absurd frame
rate), and a real local HTTP camera on 127.0.0.1 that stops sending and never answers again."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

# The tests of streams that stall mostly wait on live's deadlines (14 s, 21 s, 5 s) with almost no CPU. On one worker,
# in turn, they leave the other workers both cores; side by side (xdist handed two of them to two workers in each of
# three fresh runs) one core sat idle for about 13 s.
STALLS = pytest.mark.xdist_group("stalled-streams")


def picture() -> np.ndarray:
    """A grey 320x240 frame with a dark box."""
    image = np.full((240, 320, 3), 200, np.uint8)
    cv2.rectangle(image, (100, 80), (220, 160), (20, 20, 20), -1)
    return image


def rle_bmp(width: int, height: int) -> bytes:
    """An 8-bit run-length BMP of width x height that is all background: one end-of-bitmap code, about 1 KB."""
    palette, data = bytes(range(256)) * 4, b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


def mjpeg_avi(path: Path, frames: int, fps: float = 15.0) -> Path:
    """An MJPG .avi of `frames` frames, written by OpenCV."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for _ in range(frames):
        writer.write(picture())
    writer.release()
    return path


def _packets(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each video packet's payload ('00dc' chunks) in the movi list of an AVI."""
    at, found = data.index(b"movi") + 4, []
    while at + 8 <= len(data):
        tag, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if tag == b"idx1" or tag == b"LIST":
            break
        if tag == b"00dc":
            found.append((at + 8, size))
        at += 8 + size + (size & 1)
    return found


def damage_packets(path: Path, keep: Iterable[int]) -> int:
    """Every packet of the .avi but those numbered in `keep` overwritten with random bytes (same size, so the file's
    structure and index stay whole); the number of packets damaged."""
    data, kept = bytearray(path.read_bytes()), set(keep)
    damaged = 0
    for number, (offset, size) in enumerate(_packets(bytes(data))):
        if number not in kept:
            data[offset : offset + size] = os.urandom(size)
            damaged += 1
    path.write_bytes(bytes(data))
    return damaged


def declare_fps(path: Path, scale: int, rate: int) -> None:
    """The .avi's stream header rewritten to declare rate/scale frames a second (its frames unchanged)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"strh") + 8 + 4 + 4 + 4 + 2 + 2 + 4  # fccType, handler, flags, priority, language, initial
    data[at : at + 8] = struct.pack("<II", scale, rate)
    avih = data.index(b"avih") + 8
    data[avih : avih + 4] = struct.pack("<I", min(0xFFFFFFFF, scale * 1_000_000 // max(rate, 1)))
    path.write_bytes(bytes(data))


class StallingCamera:
    """An IP camera on 127.0.0.1: its first connection gets `frames` JPEGs as multipart MJPEG, then nothing more on
    an open socket; every later connection is accepted and never answered. `connections` holds the time.monotonic()
    of each connection."""

    def __init__(self, frames: int) -> None:
        self.frames, self.connections = frames, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        jpeg = cv2.imencode(".jpg", picture())[1].tobytes()
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(time.monotonic())
            self.held.append(conn)
            if len(self.connections) == 1:
                threading.Thread(target=self._send, args=(conn, jpeg), daemon=True).start()

    def _send(self, conn: socket.socket, jpeg: bytes) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            for _ in range(self.frames):
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                             % (len(jpeg), jpeg))
                time.sleep(1 / 15)
        except OSError:
            pass

    def wait_for(self, connections: int, timeout: float) -> bool:
        """Has the camera had this many connections, within `timeout` s?"""
        end = time.monotonic() + timeout
        while len(self.connections) < connections and time.monotonic() < end:
            time.sleep(0.05)
        return len(self.connections) >= connections

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()
