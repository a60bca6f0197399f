"""The direct profile read's connection handling, against a tiny RESP server on loopback that
answers the first HMGET too late: the read must time out, and the late answer must never be
taken for the next read's (the connection is dropped and a fresh one gets the right answer)."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from udfs import config
from udfs.io.online_read import OnlineProfileReader


def _commands(buf: bytes) -> tuple[list[list[bytes]], bytes]:
    """Complete RESP arrays at the front of ``buf`` (what redis-py sends), and the rest."""
    out = []
    while buf.startswith(b"*"):
        head, sep, rest = buf.partition(b"\r\n")
        if not sep:
            break
        args, n = [], int(head[1:])
        for _ in range(n):
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep or len(rest) < int(size_line[1:]) + 2:
                return out, buf
            size = int(size_line[1:])
            args.append(rest[:size])
            rest = rest[size + 2:]
        if len(args) < n:
            break
        out.append(args)
        buf = rest
    return out, buf


class LateServer:
    """Replies +OK to set-up commands; HMGET number k gets the one-element array [b"reply-k"],
    the first one only after ``delay_s``."""

    def __init__(self, delay_s: float):
        self.delay_s, self.hmgets = delay_s, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            while data := conn.recv(65536):
                cmds, buf = _commands(buf + data)
                for args in cmds:
                    if args[0].upper() != b"HMGET":
                        conn.sendall(b"+OK\r\n")
                        continue
                    self.hmgets += 1
                    k = self.hmgets
                    if k == 1:
                        time.sleep(self.delay_s)
                    body = f"reply-{k}".encode()
                    try:
                        conn.sendall(b"*1\r\n$%d\r\n%s\r\n" % (len(body), body))
                    except OSError:
                        return

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    s = LateServer(delay_s=0.3)
    yield s
    s.close()


def test_late_reply_is_never_read_as_the_next_one(server):
    cfg = config.load("test", overrides=[f"redis.port={server.port}"])
    reader = OnlineProfileReader(cfg, socket_timeout_ms=50)
    t = time.perf_counter()
    with pytest.raises(redis.exceptions.TimeoutError):
        reader._hmget(b"k1")
    assert time.perf_counter() - t < 0.25            # bounded by the socket timeout, not the server
    time.sleep(0.4)                                   # the late reply has been sent by now
    assert reader._hmget(b"k2") == [b"reply-2"]       # not the stale b"reply-1"
    assert reader._hmget(b"k3") == [b"reply-3"]       # and the fresh connection stays in step
    reader.close()


def test_refused_connection_raises_connection_error():
    port = socket.create_server(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    cfg = config.load("test", overrides=[f"redis.port={free}"])
    with pytest.raises(redis.exceptions.ConnectionError):
        OnlineProfileReader(cfg, socket_timeout_ms=50).read("anyone")


@pytest.fixture
def slow_server():
    """A late first reply, and timeouts roomy enough for a loaded machine (the server's threads
    share this process's interpreter with the test)."""
    s = LateServer(delay_s=0.8)
    yield s
    s.close()


def test_a_batch_read_is_one_pipeline_whose_replies_come_back_in_order(slow_server):
    cfg = config.load("test", overrides=[f"redis.port={slow_server.port}"])
    reader = OnlineProfileReader(cfg, socket_timeout_ms=250)
    with pytest.raises(redis.exceptions.TimeoutError):
        reader._hmget(b"k1")                          # the server's one late reply, out of the way
    time.sleep(1.0)
    assert reader._hmget_many([b"k2", b"k3", b"k4"]) == [[b"reply-2"], [b"reply-3"], [b"reply-4"]]
    assert reader._hmget(b"k5") == [b"reply-5"]       # still in step after the pipeline
    reader.close()


def test_a_batch_read_that_times_out_leaves_no_reply_for_the_next_read(slow_server):
    cfg = config.load("test", overrides=[f"redis.port={slow_server.port}"])
    reader = OnlineProfileReader(cfg, socket_timeout_ms=250)
    t = time.perf_counter()
    with pytest.raises(redis.exceptions.TimeoutError):
        reader._hmget_many([b"k1", b"k2", b"k3"])     # the first reply is late: the whole batch fails
    assert time.perf_counter() - t < 0.7              # bounded by the socket timeout, not the server
    time.sleep(1.0)
    got = reader._hmget(b"k4")                        # a fresh connection: never a stale batch reply
    assert got[0] not in (b"reply-1", b"reply-2") and got[0].startswith(b"reply-")
    reader.close()
