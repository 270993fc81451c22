"""fetch: download openly licensed corpora, verify their checksums, write atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from carl.data.registry import CorpusInfo, corpus_info, resolve_data_dir
from carl.errors import DataError

_CHUNK = 1 << 16
_TIMEOUT_S = 60


def _refusal(info: CorpusInfo, root: Path) -> DataError | None:
    """Why ``info`` cannot be fetched, or None if it can."""
    how = info.obtain.replace("<data dir>", str(root))
    if not info.openly_licensed:
        return DataError(f"corpus {info.name!r} is not openly licensed ({info.licence}), so carl does not "
                         f"download it", fix=f"obtain it yourself from {info.homepage}: {how}")
    if not info.fetchable:
        return DataError(f"corpus {info.name!r} has no direct download carl can verify",
                         fix=f"obtain it from {info.homepage}: {how}")
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open directories)."""
    if os.name == "posix":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _download(url: str, destination: Path, expected_sha256: str) -> int:
    """Stream ``url`` into ``destination`` if its SHA-256 matches; return its size.

    The bytes go to a temporary file in the destination's folder, are fsynced, checked,
    and only then renamed over the destination, so an interrupted or corrupted download
    never leaves a partial or wrong file where a reader would find it.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise DataError(f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, "
                            f"expected {expected_sha256}; nothing was written", path=destination,
                            fix="retry later; if it persists, the source has changed: report it to carl's maintainers")
        os.replace(temporary, destination)
        _fsync_directory(destination.parent)
        return size
    except urllib.error.HTTPError as err:
        raise DataError(f"download of {url} failed: HTTP {err.code} {err.reason}", path=destination) from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        raise DataError(f"download of {url} failed: {getattr(err, 'reason', err)}", path=destination,
                        fix="check the network connection, or pass base_url pointing at a mirror") from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def fetch(names: Iterable[str] | str, data_dir: str | os.PathLike | None, *, base_url: str | None = None,
          progress: bool = True) -> list[Path]:
    """Download the named corpora into ``data_dir`` and return the paths of their files.

    Every corpus is checked before anything is downloaded: an unknown name, or one
    that is not openly licensed, raises DataError saying where to obtain it. Files
    already present with the right checksum are not downloaded again. ``base_url``
    replaces the public sources with a mirror laid out as ``<base_url>/<relative path>``
    (also how the tests serve files locally). Each corpus's licence is printed.
    """
    root = resolve_data_dir(data_dir)
    infos = [corpus_info(name) for name in ([names] if isinstance(names, str) else names)]
    for info in infos:
        refusal = _refusal(info, root)
        if refusal is not None:
            raise refusal
    paths = []
    for info in infos:
        print(f"{info.name}: licence {info.licence} ({info.homepage})")
        for relative in info.files:
            destination = root / relative
            expected = info.sha256[relative]
            if destination.is_file() and sha256_of(destination) == expected:
                status = "already present, checksum ok"
            else:
                url = f"{base_url.rstrip('/')}/{relative}" if base_url else info.urls[relative]
                status = f"downloaded {_download(url, destination, expected):,} bytes, checksum ok"
            if progress:
                print(f"  {relative}: {status}", file=sys.stderr)
            paths.append(destination)
    return paths
