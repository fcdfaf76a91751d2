"""A zip archive written as it is sent: never whole in memory, nor on disk.

``zipfile`` writes to any object with ``write`` (an unseekable one gets data
descriptors after each member); :class:`_Pipe` hands what it was given to the
generator, which yields it to the WSGI server. Memory stays near one read
chunk plus what DEFLATE holds back, whatever the archive's size.
"""
from __future__ import annotations

import io
import time
import zipfile
from contextlib import closing
from typing import Callable, Iterable, Iterator, NamedTuple

CHUNK = 256 * 1024


class Member(NamedTuple):
    name: str
    size: int
    open: Callable[[], io.RawIOBase]  # opened only when its turn comes


class _Pipe(io.RawIOBase):
    def __init__(self):
        self._parts = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks where it is; seek() stays unsupported
        return self._written

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def stream_zip(members: Iterable[Member], comment: str = "") -> Iterator[bytes]:
    pipe = _Pipe()
    archive = zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                              allowZip64=True)
    stamp = time.gmtime()[:6]
    for member in members:
        info = zipfile.ZipInfo(member.name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size = member.size  # tells zipfile beforehand whether ZIP64 is needed
        info.external_attr = 0o644 << 16
        with closing(member.open()) as source, \
                archive.open(info, "w", force_zip64=member.size > 2**31) \
                as target:
            while True:
                chunk = source.read(CHUNK)
                if not chunk:
                    break
                target.write(chunk)
                data = pipe.take()
                if data:
                    yield data
        data = pipe.take()
        if data:
            yield data
    archive.comment = comment.encode()[:65535]
    archive.close()
    yield pipe.take()
