"""Reading the files inside tar archives as the datasets ship them, without extracting them.

ILSVRC2012_img_train.tar holds one tar per class; the bounding-box archives hold XML files in
per-class folders (or, in some repackagings, per-class tars). ``iter_tar_files`` streams through
an archive once, opening such inner tars as it meets them.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

NESTED_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def iter_tar_files(archive: str | os.PathLike | BinaryIO, *, nested: bool = True,
                   prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Yields ``(path, data)`` for every regular file of a tar archive (plain or gzip), in
    archive order, reading it as a stream.

    With ``nested``, a member that is itself a tar archive is opened and its files are yielded
    as ``"outer/inner.tar/member"``. Raises ``ValueError`` naming the archive when it is not a
    readable tar.
    """
    is_file_object = hasattr(archive, "read")
    name = (prefix.rstrip("/") or "archive") if is_file_object else os.fspath(archive)
    source = {"fileobj": archive} if is_file_object else {"name": os.fspath(archive)}
    try:
        with tarfile.open(mode="r|*", **source) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                path = prefix + member.name.removeprefix("./")
                if nested and member.name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
                    yield from iter_tar_files(io.BytesIO(data), nested=True, prefix=path + "/")
                else:
                    yield path, data
    except FileNotFoundError:
        raise
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"{name}: not a readable tar archive: {error}") from None


def tar_file_names(archive: str | os.PathLike) -> list[str]:
    """Names of the regular files in a (plain) tar archive, read from its headers only."""
    try:
        with tarfile.open(os.fspath(archive), mode="r:*") as tar:
            return [member.name for member in tar.getmembers() if member.isfile()]
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"{os.fspath(archive)}: not a readable tar archive: {error}") from None


def file_stem(path: str) -> str:
    """``"n01440764.tar/n01440764_10026.JPEG"`` -> ``"n01440764_10026"``."""
    return posixpath.splitext(posixpath.basename(path))[0]
