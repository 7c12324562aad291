"""One file's lines split by a process of its own while the collection reads the others.

A nightly compares every line of the line-safe files with those it remembers
(:mod:`.lines`), and before that splits and hashes each file's lines: ~0.4 s for the 731,000
lines of a 100,000-student district's enrollments.csv, on one core, while the other core is
idle. A **splitter** process (``python -m interop_hub.ingest.oneroster.splitter``, over a
socket pair: :mod:`interop_hub.kit.channel`) opens the same bundle, splits that file
(:func:`~.lines.split_file`) and sends back its lines without its bytes
(:class:`~.lines.LineIndex`); the collection, which reads the file's bytes itself, takes them
if they are the lines of the same bytes (size and hash), and otherwise — the process failed,
or the file changed in between — splits the file itself. Nothing here writes anything.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from interop_hub.ingest.oneroster.bundle import open_source
from interop_hub.ingest.oneroster.lines import FileLines, LineIndex, split_file
from interop_hub.kit import channel
from interop_hub.kit.channel import Channel

log = logging.getLogger("interop_hub.ingest")


@dataclass(frozen=True)
class SplitJob:
    """What a splitter needs (sent there: plain values only)."""

    path: str
    """The bundle (a folder or a zip)."""
    max_bytes: int
    """What a zip may expand to (:func:`~.bundle.open_source`)."""
    file: str
    """The file's name in the bundle."""
    limit: int
    """The most bytes of it to split (a larger file is not split: None)."""
    version: str
    modes: dict[str, str]


class SplitElsewhere:
    """The collection's side of one splitter process (started at once)."""

    def __init__(self, job: SplitJob) -> None:
        self.job = job
        self._process, self._channel = channel.start(__name__)
        try:
            self._channel.send(job)
        except OSError:
            self.stop()
            raise

    def lines(self, data: bytes) -> FileLines | None:
        """The lines of ``data``, the file's bytes as the collection read them (None: it is
        not line-safe, as :func:`split_file` says): the splitter's, if they are the lines of
        these bytes; else split here."""
        index: LineIndex | None = None
        try:
            index = cast(LineIndex, self._channel.recv())
        except (EOFError, OSError) as exc:
            log.warning("the splitter of %s failed (%s); splitting it here", self.job.file, exc)
        finally:
            self.stop()
        if index is not None and index.matches(data):
            return index.lines_of(data)
        return split_file(data, self.job.version, self.job.modes)

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """End the process if it still runs. Safe to call more than once."""
        if self.running:
            self._process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        self._channel.close()


def run_splitter(conn: Channel) -> None:
    """The splitter process: split the job's file, send its :class:`LineIndex` (nothing if the
    file is missing or larger than the limit: the collection then splits it, or not, itself)."""
    try:
        job = cast(SplitJob, conn.recv())
        with open_source(Path(job.path), job.max_bytes) as source:
            stored = source.find(job.file)
            if stored is None:
                return
            with source.open(stored) as stream:
                data = stream.read(job.limit + 1)
        if len(data) > job.limit:
            return
        conn.send(LineIndex.of(data, split_file(data, job.version, job.modes)))
    except EOFError:  # the collection is gone
        pass
    finally:
        conn.close()


if __name__ == "__main__":  # started by SplitElsewhere (kit.channel.start)
    # by the module's own name: the job's and the index's classes are pickled by it
    from interop_hub.ingest.oneroster import splitter

    splitter.run_splitter(channel.child_channel(sys.argv))
