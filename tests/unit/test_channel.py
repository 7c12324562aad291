"""``kit.channel``: framed pickles between a process and a helper it starts with ``python -m``."""

from __future__ import annotations

import socket
import threading

import pytest

from interop_hub.kit.channel import Channel, start


def test_messages_arrive_whole_and_the_end_is_seen() -> None:
    left, right = (Channel(s) for s in socket.socketpair())
    assert not right.poll()
    big = {"ids": [f"id-{n}" for n in range(200_000)]}  # more than a socket buffer holds
    left.send(("refs", {"person": frozenset({"p1"})}))
    assert right.poll()
    assert right.recv() == ("refs", {"person": frozenset({"p1"})})
    sending = threading.Thread(target=left.send, args=(big,))  # blocks until it is read
    sending.start()
    assert right.recv() == big
    sending.join()
    left.close()
    assert right.poll()  # the end is readable
    with pytest.raises(EOFError):
        right.recv()
    right.close()


def test_a_started_module_talks_back_and_ends_with_its_channel() -> None:
    process, conn = start("tests.unit.channel_echo")
    try:
        conn.send({"job": 1})
        assert conn.recv() == ("echo", {"job": 1})
    finally:
        conn.close()  # the child's next recv raises EOFError: it ends
    assert process.wait(timeout=30) == 0
