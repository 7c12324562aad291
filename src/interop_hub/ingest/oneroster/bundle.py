"""Opening a bundle (a folder or a zip) and reading its ``manifest.csv``.

Everything that makes a bundle unreadable as a whole is found here and raised as
:class:`~interop_hub.ingest.records.BundleError`: a path that does not exist, a file that is not a
zip, a zip entry whose name escapes the bundle (``../x``, ``/etc/x``, ``C:\\x``), a zip that
declares or actually yields more than the allowed number of uncompressed bytes, no manifest, an
unsupported version, and a file the manifest declares but the bundle lacks.
"""

from __future__ import annotations

import io
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Final, Self, cast

from interop_hub.ingest.oneroster.csvrows import Table
from interop_hub.ingest.records import BundleError, Mode

VERSIONS: Final = ("1.1", "1.2")
MODES: Final[frozenset[str]] = frozenset({"bulk", "delta", "absent"})
DATA_FILES: Final = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
    "categories",
)
"""The files this reader uses, in the order they are validated (what is referred to first)."""

_BUFFER = 1 << 20


class Source(ABC):
    """The files of a bundle, by name; a file is found by exact name, else ignoring case."""

    def __init__(self, names: list[str]) -> None:
        self._names = {name: name for name in names}
        self._folded = {name.casefold(): name for name in reversed(names)}

    def find(self, name: str) -> str | None:
        """The stored name of file ``name`` (e.g. ``users.csv``), or None when it is missing."""
        return self._names.get(name) or self._folded.get(name.casefold())

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """A binary stream of the stored file ``name`` (a name :meth:`find` returned)."""

    @abstractmethod
    def size(self, name: str) -> int:
        """The size in bytes of the stored file ``name`` (uncompressed: as a zip declares it)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FolderSource(Source):
    """A bundle unpacked in a folder (only its top level is looked at)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        super().__init__(sorted(p.name for p in folder.iterdir() if p.is_file()))

    def open(self, name: str) -> IO[bytes]:
        return open(self._folder / name, "rb", buffering=_BUFFER)

    def size(self, name: str) -> int:
        return (self._folder / name).stat().st_size

    def close(self) -> None:
        """Nothing to release: each file is closed by its reader."""


class ZipSource(Source):
    """A zipped bundle: its entries at the root or all under one top folder.

    ``limit`` caps the uncompressed bytes: the sum the entries declare is checked when the zip
    is opened, and the bytes actually produced are counted while reading (a crafted entry can
    declare less than it yields).
    """

    def __init__(self, path: Path, limit: int) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleError(f"{path.name} is not a readable zip file ({exc})") from exc
        try:
            infos = self._zip.infolist()
            for info in infos:
                _check_entry_name(info.filename)
            declared = sum(info.file_size for info in infos)
            if declared > limit:
                raise BundleError(
                    f"{path.name} would expand to {declared} bytes, more than the "
                    f"limit of {limit} bytes"
                )
            files = [info.filename for info in infos if not info.is_dir()]
            self._prefix = _common_folder(files)
            super().__init__(
                [n[len(self._prefix) :] for n in files if n.startswith(self._prefix) and n]
            )
        except BaseException:
            self._zip.close()
            raise
        self._limit = limit
        self._produced = 0

    def open(self, name: str) -> IO[bytes]:
        try:
            entry = self._zip.open(self._prefix + name)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
            raise BundleError(f"cannot read {name} from the zip: {exc}") from exc
        raw = _CountingReader(entry, self, name)
        return cast(IO[bytes], io.BufferedReader(raw, buffer_size=_BUFFER))

    def size(self, name: str) -> int:
        return self._zip.getinfo(self._prefix + name).file_size

    def count(self, name: str, size: int) -> None:
        """Add ``size`` produced bytes; past the limit the bundle is refused."""
        self._produced += size
        if self._produced > self._limit:
            raise BundleError(
                f"the zip expands beyond the limit of {self._limit} bytes (while reading {name})"
            )

    def close(self) -> None:
        self._zip.close()


class _CountingReader(io.RawIOBase):
    """A raw stream over a zip entry that counts the bytes it produces."""

    def __init__(self, entry: IO[bytes], owner: ZipSource, name: str) -> None:
        self._entry = entry
        self._owner = owner
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._entry.read(len(buffer))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise BundleError(f"cannot read {self._name} from the zip: {exc}") from exc
        size = len(data)
        self._owner.count(self._name, size)
        buffer[:size] = data
        return size

    def close(self) -> None:
        self._entry.close()
        super().close()


def _check_entry_name(name: str) -> None:
    """Refuse an entry name that would land outside the folder the bundle is unpacked in."""
    slashed = name.replace("\\", "/")
    parts = PurePosixPath(slashed).parts
    if slashed.startswith("/") or (len(slashed) > 1 and slashed[1] == ":") or ".." in parts:
        raise BundleError(f"zip entry {name!r} escapes the bundle folder")


def _common_folder(files: list[str]) -> str:
    """``"top/"`` when the manifest is not at the root but in exactly one top folder, else ``""``.

    Zipping a folder (rather than its contents) is the most common way a bundle gets made.
    """
    if any(PurePosixPath(n).name.casefold() == "manifest.csv" and "/" not in n for n in files):
        return ""
    tops = {
        n.split("/", 1)[0]
        for n in files
        if n.count("/") == 1 and n.split("/", 1)[1].casefold() == "manifest.csv"
    }
    tops.discard("__MACOSX")
    return f"{tops.pop()}/" if len(tops) == 1 else ""


def open_source(path: Path, limit: int) -> Source:
    """The bundle at ``path``: a folder, or any other file read as a zip."""
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise BundleError(f"bundle {str(path)!r} does not exist")
    return ZipSource(path, limit)


def read_manifest(source: Source) -> tuple[str, dict[str, Mode]]:
    """The OneRoster version and each file's mode, as ``manifest.csv`` states them.

    A data file the manifest does not mention is ``absent``. Files other than the ones this
    reader uses (lineItems, results, ...) are ignored, whatever their mode says; ``roles`` is
    kept for 1.2, where it holds the users' roles.
    """
    stored = source.find("manifest.csv")
    if stored is None:
        raise BundleError("the bundle has no manifest.csv")
    with source.open(stored) as stream:
        table = Table(stream, "manifest.csv")
        header = table.header
        if "propertyName" not in header or "value" not in header:
            raise BundleError("manifest.csv needs the columns propertyName and value")
        key_at, value_at = header.index("propertyName"), header.index("value")
        props: dict[str, str] = {}
        for _line, fields, problem in table.rows():
            if problem is None:
                props[fields[key_at].strip()] = fields[value_at].strip()
    manifest_version = props.get("manifest.version")
    if manifest_version not in (None, "1.0"):
        raise BundleError(f"unsupported manifest.version {manifest_version!r} (expected 1.0)")
    version = props.get("oneroster.version")
    if version not in VERSIONS:
        raise BundleError(
            f"unsupported oneroster.version {version!r} in manifest.csv (expected 1.1 or 1.2)"
        )
    names = (*DATA_FILES, "roles") if version == "1.2" else DATA_FILES
    modes: dict[str, Mode] = {}
    for name in names:
        value = props.get(f"file.{name}", "absent")
        if value not in MODES:
            raise BundleError(
                f"manifest.csv: file.{name} is {value!r} (expected bulk, delta or absent)"
            )
        modes[name] = cast(Mode, value)
        if value != "absent" and source.find(f"{name}.csv") is None:
            raise BundleError(f"manifest.csv declares {name}.csv {value}, but the file is missing")
    return version, modes
