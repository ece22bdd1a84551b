"""Request bodies read once and bounded, for both deployables: nothing larger than the limit is
ever held in memory, whatever ``Content-Length`` claims (RFC 9110 §8.6 does not bind a sender)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from starlette.types import Receive


class BodyTooLarge(ValueError):
    """The request body exceeds the limit it was read with."""


async def read_bounded(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, refused with :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def receive_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The chunks of an ASGI request body (ASGI HTTP spec, ``http.request`` messages)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole ASGI request body, at most ``limit`` bytes (:class:`BodyTooLarge` beyond)."""
    return await read_bounded(receive_chunks(receive), limit)
