"""A lean keep-alive HTTP/1.1 client for load generation: the benchmark measures the server, not the client.

HTTP benchmarking tools (wrk, h2load, oha) send pre-built requests over persistent connections
and parse only what they must from each answer; an aiohttp ``ClientSession`` builds a request
object, its headers and a response object per call, about 170 µs of CPU per request on this
machine — more than a raw JetStream publish costs client and server together. With the load
generator in the same process and on the same two cores as the server, that cost is taken from
the server being measured.

``LeanHttpClient`` keeps one connection per concurrent caller (opened on first need, reused
after) and writes the same pre-encoded request every time. Each answer is read whole: the status
line, the headers, then the body by ``Content-Length`` or chunked transfer encoding, so the next
request on the connection starts at the next answer. A status other than the expected one
raises (the benchmark fails rather than count a refusal as an accepted event); ``Connection:
close`` from the server closes that connection and the next call opens another.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

__all__ = ["LeanHttpClient", "UnexpectedAnswer"]

_HEAD_END = b"\r\n\r\n"


class UnexpectedAnswer(RuntimeError):
    """The server answered with another status than the benchmark expects, or malformed HTTP."""


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer


class LeanHttpClient:
    """``await client.call()`` sends ``method path`` with ``body`` and returns the answer's body.

    ``headers``: extra request headers (``{"Authorization": "Bearer ..."}``). The request bytes
    are built once; every call sends them unchanged on a free keep-alive connection.
    """

    def __init__(
        self,
        url: str,
        method: str,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        expect_status: int = 200,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {url!r}")
        self.host, self.port = parts.hostname, parts.port
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.expect = b"%d" % expect_status
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def call(self) -> bytes:
        connection = self._idle.pop() if self._idle else await self._connect()
        keep = False
        try:
            connection.writer.write(self.request)
            body, keep = await self._answer(connection.reader)
        finally:
            if keep:
                self._idle.append(connection)
            else:
                self._discard(connection)
        return body

    async def close(self) -> None:
        connections = list(self._open)
        self._idle.clear()
        for connection in connections:
            self._discard(connection)
        for connection in connections:
            with contextlib.suppress(ConnectionError):
                await connection.writer.wait_closed()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        """The whole answer's body, and whether the connection may carry the next request."""
        head = await reader.readuntil(_HEAD_END)
        status_line, _, header_block = head.partition(b"\r\n")
        if not status_line.startswith(b"HTTP/1.1 "):
            raise UnexpectedAnswer(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
        length: int | None = None
        chunked = False
        keep = True
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower()
        if chunked:
            body = await self._chunks(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:  # no framing: the body runs to the end of the connection
            body, keep = await reader.read(), False
        if status_line[9:12] != self.expect:
            raise UnexpectedAnswer(f"{status_line.decode('latin-1')}: {body[:200]!r}")
        return body, keep

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailer fields, up to the empty line
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
