"""A child for tests/unit/test_channel.py: sends back each message it gets, until the end."""

from __future__ import annotations

import sys

from interop_hub.kit.channel import child_channel

if __name__ == "__main__":
    conn = child_channel(sys.argv)
    try:
        while True:
            conn.send(("echo", conn.recv()))
    except EOFError:
        pass
    finally:
        conn.close()
