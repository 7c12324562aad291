"""The OneRoster 1.1 / 1.2 CSV reader: a bundle (a folder or a zip) → :class:`Bundle`.

Modules: :mod:`.bundle` opens the folder or zip and reads ``manifest.csv``; :mod:`.csvrows`
turns one file into rows with line numbers; :mod:`.files` says what each file holds per
version; :mod:`.rows` checks each row; :mod:`.mapping` turns a row into a record;
:mod:`.validate` reads the files in dependency order and checks references, with
:mod:`.people` for users, roles, enrollments and demographics; :mod:`.lines` and
:mod:`.skipping` skip the lines the last collection accepted that still stand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING

from interop_hub.ingest.oneroster.bundle import Source, open_source, read_manifest
from interop_hub.ingest.oneroster.lines import Remembered
from interop_hub.ingest.oneroster.skipping import Referrers
from interop_hub.ingest.oneroster.validate import MembershipsElsewhere, Reader
from interop_hub.ingest.records import Bundle, BundleError, Kind, Mode
from interop_hub.kit.gc import paused_gc

if TYPE_CHECKING:  # the splitter runs as `python -m`: not imported with the package
    from interop_hub.ingest.oneroster.splitter import SplitElsewhere

__all__ = [
    "BundleError",
    "MembershipsElsewhere",
    "Referrers",
    "Remembered",
    "StartElsewhere",
    "StartSplitters",
    "read_bundle",
]


def read_bundle(
    path: Path,
    *,
    existing: Mapping[Kind, AbstractSet[str]] | None = None,
    existing_memberships: AbstractSet[str] | None = None,
    max_uncompressed_bytes: int = 4 * 1024**3,
    remembered: Mapping[str, Remembered] | None = None,
    referrers: Referrers | None = None,
    defer_memberships: bool = False,
    elsewhere: StartElsewhere | None = None,
    splitters: StartSplitters | None = None,
) -> Bundle:
    """Read the OneRoster CSV bundle at ``path`` (a folder, or a zip file).

    ``existing`` holds the source ids the Repository already has, by kind: a reference into a
    ``delta`` or ``absent`` file may point at them (unless this bundle deletes them). Deletions
    of ids that the caller states do not exist (a kind present in ``existing``, a non-None
    ``existing_memberships``) are dropped as no-ops. Rows that fail a check become
    ``Bundle.errors`` and the rest still goes in. Raises :class:`BundleError`, and returns
    nothing, when the bundle cannot be read at all. ``max_uncompressed_bytes`` caps what a zip
    may expand to (a folder is read as it is).

    ``remembered`` holds, by file, the lines the last collection into the same Repository
    accepted (:mod:`.lines`): those read again unchanged are skipped (``Bundle.skipped``)
    unless ``referrers`` shows that an object gone since concerns them; ``existing`` must then
    hold every kind. ``Bundle.remember`` is what the next collection may skip.

    ``defer_memberships``: the rows of enrollments.csv are read when ``Bundle.memberships`` is
    first used rather than now (an :class:`~interop_hub.kit.ondemand.OnDemand`), if its lines
    are held in memory (a line-safe bulk file; otherwise it is read now). Its header is checked
    now, and every other file read. Until the memberships are all read, ``Bundle.errors``,
    ``rows_read``, ``skipped`` and ``remember`` are not complete: :meth:`Bundle.read_all`. A
    cloud's first collection reads them while it writes them (:mod:`interop_hub.ingest.service`).

    ``elsewhere``: called once the manifest is read, with the bundle's source, version and
    modes; if it returns a process that reads enrollments.csv and writes its memberships
    itself (a :class:`~.validate.MembershipsElsewhere`), ``Bundle.memberships`` is a
    :class:`~interop_hub.ingest.records.WrittenElsewhere` and this process never reads the
    file (its header's problem is raised here all the same).

    ``splitters``: called once the manifest is read, like ``elsewhere``; the files it returns
    processes for are split into lines by them (:mod:`.splitter`) while this one reads the
    others. Those still running when the read ends are stopped.

    The records share strings and, for memberships, equal ``data`` dicts: treat them as
    read-only.
    """
    # A large bundle allocates millions of long-lived dicts and records and no reference
    # cycles: the cyclic collector would walk the growing heap again and again for nothing
    # (about 40 % of the time of a 1M-row read).
    with paused_gc(), open_source(Path(path), max_uncompressed_bytes) as source:
        version, modes = read_manifest(source)
        split = splitters(source, version, modes) if splitters is not None else {}
        try:
            reader = Reader(
                source,
                version,
                modes,
                existing or {},
                existing_memberships,
                remembered,
                referrers,
                split,
            )
            other = elsewhere(source, version, modes) if elsewhere is not None else None
            return reader.run(defer_memberships=defer_memberships, elsewhere=other)
        finally:
            for splitter in split.values():  # ended already, unless its file was not read
                splitter.stop()


StartSplitters = Callable[[Source, str, dict[str, Mode]], Mapping[str, "SplitElsewhere"]]
"""Given a bundle's source, version and modes: the processes that split files of it into
lines, by file name (``"enrollments"``)."""

StartElsewhere = Callable[[Source, str, dict[str, Mode]], MembershipsElsewhere | None]
"""Given a bundle's source, version and modes: the process that will read its enrollments
and write their memberships, or None to read them here."""
