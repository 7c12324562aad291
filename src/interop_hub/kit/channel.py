"""Messages between a process and a helper process it started: pickled, each after its length,
over one end each of a socket pair.

Why not :mod:`multiprocessing`: its ``spawn`` start imports the parent's main module again in
the child (the ``interop-hub`` command: the whole CLI, ~1.5 s of CPU here), and ``fork`` copies
a process that holds threads and database connections. :func:`start` runs a module with
``python -m`` instead, which imports what that module needs and nothing else.

The two processes trust each other (one started the other, with its own interpreter); nothing
else can write to the pair.
"""

from __future__ import annotations

import pickle
import select
import socket
import struct
import subprocess
import sys
from typing import Any

_LENGTH = struct.Struct("!Q")


class Channel:
    """One end of the pair. :meth:`recv` raises :class:`EOFError` once the other end is
    closed (its process ended, or died)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._sock.sendall(_LENGTH.pack(len(data)) + data)

    def recv(self) -> Any:
        (size,) = _LENGTH.unpack(self._read(_LENGTH.size))
        return pickle.loads(self._read(size))  # noqa: S301 - our own child's, see the module

    def poll(self) -> bool:
        """Whether a message (or the end) is waiting."""
        ready, _, _ = select.select([self._sock], [], [], 0)
        return bool(ready)

    def close(self) -> None:
        self._sock.close()

    def _read(self, size: int) -> bytes:
        data = bytearray(size)
        view, got = memoryview(data), 0
        while got < size:
            count = self._sock.recv_into(view[got:])
            if not count:
                raise EOFError("the other end is closed")
            got += count
        return bytes(data)


def start(module: str) -> tuple[subprocess.Popen[bytes], Channel]:
    """Run ``python -m module FD`` with this interpreter; the process and our end of the pair
    (FD is the child's: :func:`child_channel`)."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", module, str(theirs.fileno())], pass_fds=(theirs.fileno(),)
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, Channel(ours)


def child_channel(argv: list[str]) -> Channel:
    """The child's end, from the FD :func:`start` passed as its only argument."""
    return Channel(socket.socket(fileno=int(argv[1])))
