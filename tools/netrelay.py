"""A small TCP relay between the recorded pods and redis-server that can fail like a network.

Why: a real network blip leaves Redis running; only the path between the pods and the server fails. The
recorder's `restart` and `pause` outages act on the server, so the server log shows a shutdown or a stall; behind
this relay the server log shows only what a network fault leaves there (connections closing, then the herd of
accepts). The INFO poller keeps talking to the server directly, as an exporter beside Redis would.

It runs as its own process (`python tools/netrelay.py --listen-port P --target-port T`), driven by one command a
line on stdin, each answered by one JSON line on stdout with the time the relay measured:

- `down reset`: every relayed connection is reset (SO_LINGER 0, so an RST goes to the pod and to the server:
  redis-py reads `Connection reset by peer`, the server logs the client gone) and the listening socket is closed,
  so a new connect is refused (ECONNREFUSED) until `up` listens again on the same port.
- `down blackhole`: nothing is forwarded in either direction and nothing accepted; every socket stays open.
  Closeness to a real partition: what the pods and the server see within seconds is the same (reads time out, the
  server sees no data and no close, connects time out), with two differences. The relay's kernel still ACKs what
  a pod sends (in a partition its kernel would retransmit), which no application sees before tcp_retries2 (~15 min).
  And the listening socket's backlog is set to 1 without accept(): Linux completes the handshake of the first one or
  two connects (their first command then times out instead of the connect) and drops every later SYN, so those
  connects hang in SYN retransmission (1 s, 3 s, 7 s) exactly as in a partition.
- `up`: a blackhole heals like a partition: the held sockets are kept, and what was sent into them meanwhile
  (kernel buffers) is forwarded, late; pods that gave up have closed theirs, which the relay then sees and passes
  on. After a reset the relay listens again.
- `quit` (or stdin closed, or `--lifetime` seconds): close everything and exit.

Bounded: at most `--max-pairs` relayed connections at once (more are closed on accept), `--lifetime` seconds, and
`BUFFER_CAP` bytes queued towards one socket (its peer is not read meanwhile).
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
BACKLOG = 1024  # normal listening: a reconnecting herd is accepted, not dropped by the relay
BLACKHOLE_BACKLOG = 1  # with no accept(), Linux then completes one or two handshakes and drops further SYNs
BUFFER_CAP = 4 << 20
CHUNK = 65536


class Pair:
    """One relayed connection: the pod's socket, the server's socket, and what is queued towards each."""

    def __init__(self, pod: socket.socket, server: socket.socket):
        self.pod, self.server = pod, server
        self.queued = {pod: bytearray(), server: bytearray()}

    def peer(self, sock: socket.socket) -> socket.socket:
        return self.server if sock is self.pod else self.pod


class Relay:
    """The relay's state and its one-threaded selector loop."""

    def __init__(self, listen_port: int, target_port: int, max_pairs: int):
        self.listen_port, self.target_port, self.max_pairs = listen_port, target_port, max_pairs
        self.sel = selectors.DefaultSelector()
        self.pairs: dict[socket.socket, Pair] = {}  # both sockets of a pair -> the pair
        self.listener: socket.socket | None = None
        self.down: str | None = None
        self.accepted = self.refused_over_cap = 0

    # ---------------------------------------------------------------- listening
    def listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, self.listen_port))
        s.listen(BACKLOG)
        s.setblocking(False)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ)

    def accept(self) -> None:
        while True:
            try:
                pod, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            if len(self.pairs) // 2 >= self.max_pairs:
                self.refused_over_cap += 1
                pod.close()
                continue
            try:
                server = socket.create_connection((HOST, self.target_port), timeout=2.0)
            except OSError:
                pod.close()  # the server itself is not there: the pod sees its connection closed
                continue
            self.accepted += 1
            pair = Pair(pod, server)
            for sock in (pod, server):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.pairs[sock] = pair
                self.sel.register(sock, selectors.EVENT_READ)

    # ---------------------------------------------------------------- forwarding
    def watch(self, sock: socket.socket) -> None:
        """Read a socket unless its peer's queue is full; write it while something is queued towards it."""
        pair = self.pairs.get(sock)
        if pair is None or self.down:
            return
        events = selectors.EVENT_WRITE if pair.queued[sock] else 0
        if len(pair.queued[pair.peer(sock)]) < BUFFER_CAP:
            events |= selectors.EVENT_READ
        registered = sock in self.sel.get_map()
        if events and registered:
            self.sel.modify(sock, events)
        elif events:
            self.sel.register(sock, events)
        elif registered:
            self.sel.unregister(sock)

    def readable(self, sock: socket.socket) -> None:
        pair = self.pairs[sock]
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close_pair(pair, reset=False)
            return
        peer = pair.peer(sock)
        pair.queued[peer] += data
        self.writable(peer)
        self.watch(sock)

    def writable(self, sock: socket.socket) -> None:
        pair = self.pairs.get(sock)
        if pair is None:
            return
        queued = pair.queued[sock]
        if queued:
            try:
                sent = sock.send(queued)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close_pair(pair, reset=False)
                return
            del queued[:sent]
        self.watch(sock)
        self.watch(pair.peer(sock))

    def close_pair(self, pair: Pair, reset: bool) -> None:
        for sock in (pair.pod, pair.server):
            self.pairs.pop(sock, None)
            if sock in self.sel.get_map():
                self.sel.unregister(sock)
            if reset:  # SO_LINGER on with 0 s: close() sends an RST, not a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                sock.close()
            except OSError:
                pass

    # ---------------------------------------------------------------- outages
    def go_down(self, kind: str) -> dict:
        if self.down:
            return {"error": f"already down ({self.down})"}
        live = {id(p): p for p in self.pairs.values()}
        if kind == "reset":
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
            for pair in live.values():
                self.close_pair(pair, reset=True)
        elif kind == "blackhole":
            for key in list(self.sel.get_map().values()):
                if key.fileobj is not sys.stdin:
                    self.sel.unregister(key.fileobj)
            self.listener.listen(BLACKHOLE_BACKLOG)
        else:
            return {"error": f"unknown outage {kind!r}"}
        self.down = kind
        return {"event": "down", "kind": kind, "ts": time.time(), "connections": len(live)}

    def go_up(self) -> dict:
        if not self.down:
            return {"error": "not down"}
        kind, self.down = self.down, None
        if kind == "reset":
            self.listen()
        else:
            self.listener.listen(BACKLOG)
            self.sel.register(self.listener, selectors.EVENT_READ)
            for sock in list(self.pairs):
                self.watch(sock)
        return {"event": "up", "kind": kind, "ts": time.time(), "connections": len(self.pairs) // 2}

    def command(self, line: str) -> dict | None:
        words = line.split()
        if words[:1] == ["down"] and len(words) == 2:
            return self.go_down(words[1])
        if words == ["up"]:
            return self.go_up()
        if words == ["quit"]:
            return None
        return {"error": f"unknown command {line.strip()!r}"}

    def close_all(self) -> None:
        for pair in {id(p): p for p in self.pairs.values()}.values():
            self.close_pair(pair, reset=False)
        if self.listener is not None:
            self.listener.close()

    def serve(self, lifetime: float) -> dict:
        self.listen()
        self.sel.register(sys.stdin, selectors.EVENT_READ)
        say({"event": "listening", "port": self.listen_port, "ts": time.time()})
        end = time.monotonic() + lifetime
        try:
            while (left := end - time.monotonic()) > 0:
                for key, events in self.sel.select(timeout=min(left, 1.0)):
                    sock = key.fileobj
                    if sock is sys.stdin:
                        line = sys.stdin.readline()
                        reply = self.command(line) if line else None
                        if reply is None:
                            return self.summary("quit" if line else "stdin closed")
                        say(reply)
                    elif sock is self.listener:
                        self.accept()
                    elif sock in self.pairs:  # a pair closed earlier in this batch is skipped
                        if events & selectors.EVENT_READ:
                            self.readable(sock)
                        if events & selectors.EVENT_WRITE and sock in self.pairs:
                            self.writable(sock)
            return self.summary("lifetime")
        finally:
            self.close_all()

    def summary(self, why: str) -> dict:
        return {"event": "exit", "why": why, "ts": time.time(), "accepted": self.accepted,
                "refused_over_cap": self.refused_over_cap}


def say(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--lifetime", type=float, default=120.0, help="exit after this many seconds")
    ap.add_argument("--max-pairs", type=int, default=4096, help="relayed connections at once")
    args = ap.parse_args(argv)
    if not 0 < args.lifetime <= 3600 or not 0 < args.max_pairs <= 60000:
        ap.error("--lifetime must be in (0, 3600] and --max-pairs in (0, 60000]")
    say(Relay(args.listen_port, args.target_port, args.max_pairs).serve(args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
