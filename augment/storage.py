"""Local and remote paths behind one interface.

Every stage takes a URI (`/data/out`, `out`, `s3://bucket/out`, `gs://…`) and goes through pyarrow's
filesystems, so the same code writes to local disk in tests and to object storage on a cluster.
Writes are atomic (temporary name, then move) so a crash never leaves a half-written file under its
final name.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from typing import Iterator

from pyarrow import fs as pafs

from augment.errors import AugmentError


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return (filesystem, path) for a local path or a `scheme://` URI."""
    if "://" in uri:
        try:
            return pafs.FileSystem.from_uri(uri)
        except Exception as exc:  # pyarrow raises several types for unknown schemes / bad creds
            raise AugmentError(f"cannot open {uri}: {exc}") from None
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts)


def file_type(fs: pafs.FileSystem, path: str) -> pafs.FileType:
    return fs.get_file_info(path).type


def entries(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """Direct children of a folder; empty when the folder does not exist."""
    if file_type(fs, path) != pafs.FileType.Directory:
        return []
    return fs.get_file_info(pafs.FileSelector(path, recursive=False))


def delete(fs: pafs.FileSystem, path: str) -> None:
    kind = file_type(fs, path)
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind == pafs.FileType.File:
        fs.delete_file(path)


def temporary_sibling(path: str) -> str:
    """A name beside `path` that readers skip: pyarrow datasets ignore names starting with '.',
    and the suffix keeps `*.parquet` globs (duckdb, polars) from matching it."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:12]}")


def make_parent(fs: pafs.FileSystem, path: str) -> None:
    fs.create_dir(posixpath.dirname(path), recursive=True)


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    make_parent(fs, path)
    tmp = temporary_sibling(path)
    with fs.open_output_stream(tmp) as stream:
        stream.write(data)
    fs.move(tmp, path)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return stream.read()


def read_optional(uri: str) -> bytes | None:
    """The file's bytes, or None when there is no such file."""
    fs, path = resolve(uri)
    return read_bytes(fs, path) if file_type(fs, path) == pafs.FileType.File else None


def _chunks(fs: pafs.FileSystem, path: str, size: int = 1 << 22) -> Iterator[bytes]:
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(size):
            yield chunk


def sha256(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(fs, path):
        digest.update(chunk)
    return digest.hexdigest()


def copy_file(fs: pafs.FileSystem, source: str, target: str) -> None:
    """Publish a byte-identical copy of `source` at `target`, atomically.

    On local disk a hard link is tried first: no bytes move, and it stays correct because every
    augment writer replaces files by rename (a new inode), never by rewriting one in place. Object
    stores copy server-side.
    """
    make_parent(fs, target)
    tmp = temporary_sibling(target)
    if isinstance(fs, pafs.LocalFileSystem):
        try:
            os.link(source, tmp)
        except OSError:  # another device, or a filesystem without hard links
            fs.copy_file(source, tmp)
    else:
        fs.copy_file(source, tmp)
    fs.move(tmp, target)
