"""Raw HTTP/1.1 over a socket, for requests no well-behaved client library would send
(truncated bodies, ``..`` and ``%2e%2e`` in paths). Reads are bounded by a deadline."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit


async def raw_http(base: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                   body: bytes = b"", content_length: int | None = None, deadline: float = 10.0) -> tuple[int, dict]:
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        hdrs = {"Host": f"{url.hostname}:{url.port}", "Connection": "close",
                "Content-Length": str(len(body) if content_length is None else content_length), **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        if content_length is not None and content_length > len(body):
            writer.write_eof()  # truncated: the peer sees EOF before Content-Length bytes
        raw = await asyncio.wait_for(reader.read(), deadline)
    finally:
        writer.close()
    if not raw:
        return 0, {}  # the server closed without answering (it saw the connection end)
    status_line, _, rest = raw.partition(b"\r\n")
    status = int(status_line.split()[1])
    _, _, payload = rest.partition(b"\r\n\r\n")
    try:
        parsed = json.loads(payload) if payload else {}
    except ValueError:
        parsed = {"raw": payload[:200].decode("latin-1")}
    return status, parsed
