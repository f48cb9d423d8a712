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
import re
import uuid
from collections.abc import Iterator

from pyarrow import fs as pafs

from augment.core.errors import AugmentError

# An S3 endpoint that accepts connections and never answers held pyarrow's defaults for ~100 s per
# call (several internal retries of a 3 s connect); these bound every call to about a minute.
S3_CONNECT_TIMEOUT_S = 10.0
S3_REQUEST_TIMEOUT_ENV = "AUGMENT_S3_REQUEST_TIMEOUT_S"  # seconds without a byte before a request fails
S3_REQUEST_TIMEOUT_S = 20.0
S3_ATTEMPTS = 3

GCS_RETRY_LIMIT_ENV = "AUGMENT_GCS_RETRY_LIMIT_S"  # seconds a GCS call retries before it fails
GCS_RETRY_LIMIT_S = 10.0

# Set by Ray's job supervisor in every `ray job submit` entry point's environment.
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def is_remote(uri: str) -> bool:
    return "://" in uri


def absolute(uri: str, option: str = "path") -> str:
    """The location as every process must see it: a URI unchanged, a local path made absolute here.

    Called once, in the driver, when a stage's config is built: Ray Train and Ray Data run their
    workers in other working directories, where a relative path names another folder. In a cluster
    job the driver's working directory is a temporary upload on the head node, so a relative path
    there names a folder that exists on no node and is refused.
    """
    if is_remote(uri):
        return uri
    expanded = os.path.expanduser(uri)
    if not os.path.isabs(expanded) and os.environ.get(RAY_JOB_ENV):
        raise AugmentError(
            f"{option} {uri} is a relative path: in a cluster job it names a folder on no node; "
            "pass an absolute path on storage every node shares, or a URI (s3://bucket/prefix)"
        )
    return os.path.abspath(expanded)


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return (filesystem, path) for a local path or a `scheme://` URI."""
    if "://" in uri:
        try:
            fs, path = pafs.FileSystem.from_uri(uri)
        except Exception as exc:  # pyarrow raises several types for unknown schemes / bad creds
            raise AugmentError(f"cannot open {uri}: {exc}") from None
        if isinstance(fs, pafs.S3FileSystem):
            return _bounded(fs), path
        return (_bounded_gcs(fs) if isinstance(fs, pafs.GcsFileSystem) else fs), path
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))


def _with_options(fs, **changed):
    """The same filesystem (region, endpoint, credentials as from_uri resolved them from the URI and
    the environment) with some options changed: pyarrow exposes from_uri's resolved options only
    through pickling, hence __reduce__."""
    rebuild, (options,) = fs.__reduce__()
    return rebuild({**options, **changed})


def _bounded(fs: pafs.S3FileSystem) -> pafs.S3FileSystem:
    """S3 with bounded timeouts and retries."""
    request_timeout = float(os.environ.get(S3_REQUEST_TIMEOUT_ENV, S3_REQUEST_TIMEOUT_S))
    return _with_options(
        fs,
        connect_timeout=min(S3_CONNECT_TIMEOUT_S, request_timeout),
        request_timeout=request_timeout,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS),
    )


def _bounded_gcs(fs: pafs.GcsFileSystem) -> pafs.GcsFileSystem:
    """GCS with a bound on its retries: without one, a machine with no Google credentials retried
    the metadata server for ever (`--out gs://…` printed nothing for 600 s); bounded, it fails in
    ~20 s with the client's own reason ("Could not create a OAuth2 access token")."""
    import datetime

    limit = float(os.environ.get(GCS_RETRY_LIMIT_ENV, GCS_RETRY_LIMIT_S))
    return _with_options(fs, retry_time_limit=datetime.timedelta(seconds=limit))


def check_writable(uri: str, option: str = "--out") -> None:
    """Refuse, in one line, an output location this process cannot write, before any work starts.

    A probe file is written and removed, and folders made for it are removed again, so a refused
    command leaves nothing behind: a missing bucket, wrong credentials or a read-only folder fail
    here instead of as a traceback after minutes of training.
    """
    fs, path = resolve(uri)
    if is_remote(uri):
        bucket = path.split("/", 1)[0]
        try:
            found = fs.get_file_info(bucket).type != pafs.FileType.NotFound
        except OSError as exc:
            raise AugmentError(
                f"{option} {uri}: {storage_problem(exc) or f'cannot reach bucket {bucket}: {_reason(exc)}'}"
            ) from None
        if not found:
            raise AugmentError(f"{option} {uri}: bucket {bucket} does not exist; create it or choose another")
    made = _missing_folders(fs, path)
    probe = join(path, f".augment-write-probe-{uuid.uuid4().hex[:12]}")
    try:
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe) as stream:
            stream.write(b"augment checks that it can write here\n")
        fs.delete_file(probe)
    except OSError as exc:
        raise AugmentError(f"{option} {uri} is not writable here: {_reason(exc)}") from None
    finally:
        for folder in made:  # deepest first
            try:
                if file_type(fs, folder) == pafs.FileType.Directory and not entries(fs, folder):
                    fs.delete_dir(folder)
            except OSError:
                pass


# pyarrow's S3 errors name the AWS error code: "AWS Error ACCESS_DENIED during HeadObject operation".
_DENIED = (
    "ACCESS_DENIED",
    "INVALID_ACCESS_KEY_ID",
    "SIGNATURE_DOES_NOT_MATCH",
    "EXPIRED_TOKEN",
    "INVALID_CLIENT_TOKEN_ID",
    "UNRECOGNIZED_CLIENT",
)
_UNREACHABLE = ("NETWORK_CONNECTION", "REQUEST_TIMEOUT", "SERVICE_UNAVAILABLE", "SLOW_DOWN")


def storage_problem(exc: BaseException) -> str | None:
    """One line for an object-storage failure a user can fix (credentials, permissions, endpoint),
    or None when `exc` is something else. Such a failure is the environment's, not a bug."""
    text = " ".join(str(exc).split())
    if "google::cloud::Status" in text:
        return _gcs_problem(text)
    if "AWS Error" not in text:
        return None
    detail = text[text.index("AWS Error") :][:160]
    found = re.search(r"key '([^']*)' in bucket '([^']*)'", text) or re.search(r"bucket '([^']*)'", text)
    where = "" if not found else f" at s3://{found[2]}/{found[1]}" if found.re.groups == 2 else f" at s3://{found[1]}"
    if any(code in text for code in _DENIED):
        return (
            f"object storage refused the request{where} ({detail}): check the credentials (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and that they may read and write there"
        )
    if any(code in text for code in _UNREACHABLE):
        return (
            f"object storage did not answer{where} after {S3_ATTEMPTS} attempts ({detail}): check "
            "AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) and the network"
        )
    return f"object storage failed{where} ({detail})"


def _gcs_problem(text: str) -> str:
    detail = re.sub(r"^.*?google::cloud::Status\((\w+): ", r"\1: ", text)[:160]
    if "OAuth2 access token" in text or "PERMISSION_DENIED" in text or "UNAUTHENTICATED" in text:
        return (
            f"Google Cloud Storage refused or could not authenticate the request ({detail}): check the "
            "credentials (GOOGLE_APPLICATION_CREDENTIALS, or the node's service account)"
        )
    limit = os.environ.get(GCS_RETRY_LIMIT_ENV, GCS_RETRY_LIMIT_S)
    return f"Google Cloud Storage failed after {GCS_RETRY_LIMIT_ENV}={limit} s of retries ({detail})"


def _missing_folders(fs: pafs.FileSystem, path: str) -> list[str]:
    """`path` and its ancestors that do not exist yet, deepest first (local and remote alike)."""
    missing = []
    while path and path not in ("/", ".") and file_type(fs, path) == pafs.FileType.NotFound:
        missing.append(path)
        parent = posixpath.dirname(path)
        if parent == path or "/" not in path.strip("/"):
            break
        path = parent
    return missing


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


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


def absolute_fields(config, *fields: str) -> None:
    """Resolve a config's path options once, where it is built (the driver): see `absolute`."""
    for name in fields:
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, absolute(value, "--" + name.replace("_", "-")))
