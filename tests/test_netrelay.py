"""tools/netrelay.py, the network the recorder fails: a real relay process between real sockets and an echo server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELAY = ROOT / "tools" / "netrelay.py"
HOST = "127.0.0.1"
WAIT = 5.0  # seconds a test waits for something that should come at once (a bound, not a measurement)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Echo:
    """A TCP echo server in a thread: the stand-in for redis-server behind the relay."""

    def __init__(self):
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.closed_by_peer: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError as exc:  # an RST from the relay
                    self.closed_by_peer.append(type(exc).__name__)
                    return
                if not data:
                    self.closed_by_peer.append("eof")
                    return
                conn.sendall(data)


class Relay:
    """The relay as the recorder runs it: a child in its own session, one command a line, one JSON reply a line."""

    def __init__(self, target: int, *extra: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(RELAY), "--listen-port", str(self.port), "--target-port", str(target),
             "--lifetime", "60", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        assert self.read()["event"] == "listening"

    def read(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def say(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> dict:
        summary = self.say("quit")
        assert self.proc.wait(WAIT) == 0
        return summary

    def connect(self, timeout: float = WAIT) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=timeout)


@pytest.fixture
def echo():
    server = Echo()
    yield server
    server.sock.close()


@pytest.fixture
def relay(echo):
    r = Relay(echo.port)
    yield r
    if r.proc.poll() is None:
        r.proc.kill()
        r.proc.wait(WAIT)


def roundtrip(sock: socket.socket, data: bytes = b"PING\r\n") -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def test_relays_both_ways_and_counts_connections(relay):
    with relay.connect() as a, relay.connect() as b:
        assert roundtrip(a) == b"PING\r\n" and roundtrip(b, b"x" * 100) == b"x" * 100
    assert relay.stop()["accepted"] == 2


def test_reset_resets_every_connection_and_refuses_new_ones_until_up(relay, echo):
    held = [relay.connect() for _ in range(3)]
    for s in held:
        assert roundtrip(s) == b"PING\r\n"
    down = relay.say("down reset")
    assert (down["event"], down["kind"], down["connections"]) == ("down", "reset", 3)
    for s in held:  # the pod's side: reset by peer (an RST, not an orderly close)
        with pytest.raises(ConnectionResetError):
            s.recv(4096)
        s.close()
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port meanwhile
        relay.connect()
    up = relay.say("up")
    assert up["event"] == "up" and up["ts"] >= down["ts"]
    with relay.connect() as s:
        assert roundtrip(s) == b"PING\r\n"
    relay.stop()
    deadline = time.monotonic() + WAIT  # the echo threads note the resets on their own
    while echo.closed_by_peer.count("ConnectionResetError") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert echo.closed_by_peer.count("ConnectionResetError") == 3  # the server saw its clients go, reset


def test_blackhole_forwards_nothing_then_heals_with_the_held_sockets(relay):
    held = relay.connect()
    assert roundtrip(held) == b"PING\r\n"
    down = relay.say("down blackhole")
    assert down["kind"] == "blackhole" and down["connections"] == 1
    held.settimeout(0.3)
    held.sendall(b"LATE\r\n")
    with pytest.raises(TimeoutError):  # nothing comes back while it is down
        held.recv(4096)
    # no accept() and a backlog of 1: the kernel completes a handshake or two, then drops SYNs (connects hang)
    waiting, hung = [], 0
    for _ in range(6):
        try:
            waiting.append(relay.connect(timeout=0.3))
        except TimeoutError:
            hung += 1
    assert hung >= 3
    up = relay.say("up")
    assert up["connections"] == 1  # the held socket was kept, as a partition that heals keeps it
    held.settimeout(WAIT)
    assert held.recv(4096) == b"LATE\r\n"  # what was sent into the blackhole arrives, late
    with relay.connect() as s:
        assert roundtrip(s) == b"PING\r\n"
    for s in [held, *waiting]:
        s.close()
    relay.stop()


def test_commands_out_of_place_are_refused_in_one_line(relay):
    assert "error" in relay.say("up")  # not down
    assert "error" in relay.say("down warp")
    assert relay.say("down reset")["event"] == "down"
    assert "error" in relay.say("down blackhole")  # already down
    assert "error" in relay.say("fly")
    assert relay.stop()["why"] == "quit"


def test_bounded_in_time_and_connections(echo):
    r = Relay(echo.port, "--max-pairs", "1")
    with r.connect() as a:
        assert roundtrip(a) == b"PING\r\n"
        with r.connect() as b:  # over the cap: closed on accept
            assert b.recv(4096) == b""  # closed before anything was relayed
    assert r.stop()["accepted"] == 1
    short = subprocess.Popen([sys.executable, str(RELAY), "--listen-port", str(free_port()), "--target-port",
                              str(echo.port), "--lifetime", "0.2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, start_new_session=True)  # stdin left open: only its lifetime ends it
    out, _ = short.communicate(timeout=WAIT * 2) if short.wait(WAIT * 2) == 0 else ("", "")
    assert json.loads(out.splitlines()[-1])["why"] == "lifetime"
    bad = subprocess.run([sys.executable, str(RELAY), "--listen-port", "1", "--target-port", "2", "--lifetime", "0"],
                         capture_output=True, text=True, timeout=WAIT * 2)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()[-1]) < 200
