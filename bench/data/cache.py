"""Download-once cache for the full corpora, with checksum checks.

A file is fetched into `<cache>/<hash of URL>/<name>`: downloaded to a
temporary file in the same folder, checked, then moved into place with
`os.replace`, so an interrupted download never leaves a file that looks
complete. A later `fetch` of the same URL reuses the file after checking it
again.

Where no checksum is published (`sha256=None`), the first download's
checksum is recorded in a sidecar `<name>.sha256` and every later use is
checked against it: the data cannot change under a benchmark silently.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bench.errors import ConfigError
from bench.store import atomic_write_bytes, file_sha256

CACHE_ENV = "COLLAPSE_BENCH_CACHE"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The argument, else $COLLAPSE_BENCH_CACHE, else ~/.cache/collapse-bench."""
    if cache_dir is not None:
        return Path(cache_dir)
    if env := os.environ.get(CACHE_ENV):
        return Path(env)
    return Path.home() / ".cache" / "collapse-bench"


def cached_path(url: str, cache_dir: str | Path, name: str | None = None) -> Path:
    """Where `fetch` keeps `url`; the URL hash keeps equal file names apart."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(cache_dir) / key / (name or _url_basename(url))


def fetch(url: str, sha256: str | None, cache_dir: str | Path, *, name: str | None = None) -> Path:
    """Return a local, verified copy of `url`, downloading it only if needed.

    `sha256=None`: trust the first download and pin its checksum in a sidecar.
    A cached file that fails its check is fetched again; a download that
    fails its check is deleted and reported.
    """
    dest = cached_path(url, cache_dir, name)
    sidecar = _sidecar(dest)
    expected = sha256 or _read_sidecar(sidecar)
    if dest.is_file():
        if expected is None:  # placed by hand: accept it and pin it from now on
            atomic_write_bytes(sidecar, (file_sha256(dest) + "\n").encode())
            return dest
        if file_sha256(dest) == expected:
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        part, digest = _download(url, dest)
    except ConfigError:
        _remove_if_empty(dest.parent)
        raise
    if expected is not None and digest != expected:
        part.unlink()
        _remove_if_empty(dest.parent)
        raise ConfigError(
            f"checksum mismatch for {url}: got sha256 {digest}, expected {expected}; "
            "the download is corrupt or the file changed upstream; nothing was kept"
        )
    if expected is None:  # first download of a file without a published checksum
        atomic_write_bytes(sidecar, (digest + "\n").encode())
    os.replace(part, dest)
    return dest


def forget(path: Path) -> None:
    """Drop a cached file and its pinned checksum (a download that proved unusable)."""
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def extract_member(archive: Path, suffix: str) -> Path:
    """Extract the one member of a .tar.gz whose path ends with `suffix`, once.

    Matching on the end of the path tolerates a leading folder in the
    archive (`datasets/yahoo_data/...` or `yahoo_data/...`). The member is
    copied out by hand rather than with `extractall`, so nothing outside
    `<archive>.d/` is ever written.
    """
    dest = archive.with_name(archive.name + ".d") / suffix
    if dest.is_file():
        return dest
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = next(
                (m for m in tar.getmembers() if m.isfile() and m.name.endswith(suffix)), None
            )
            if member is None:
                raise ConfigError(
                    f"{archive} holds no file ending in {suffix}; delete it to download again"
                )
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as out:
                shutil.copyfileobj(source, out)
            os.replace(out.name, dest)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ConfigError(
            f"{archive} is not a readable tar archive ({err}); delete it to download again"
        ) from None
    return dest


def _download(url: str, dest: Path) -> tuple[Path, str]:
    """Stream `url` to a temporary file beside `dest`; return it and its sha256."""
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    part = Path(name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response,
        ):
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise ConfigError(
            f"cannot download {url} ({reason}); connect to the internet, or save the "
            f"file by hand as {dest}"
        ) from None
    except BaseException:  # interrupted: leave no partial file behind
        part.unlink(missing_ok=True)
        raise
    return part, digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_sidecar(sidecar: Path) -> str | None:
    return sidecar.read_text().strip() if sidecar.is_file() else None


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _url_basename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rsplit("/", 1)[-1]) or "download"
