"""What a request may be before the app sees it: ASGI middleware for its URL and body.

- A URL with a NUL character (`%00`) is refused with 400: no name, reference or text
  in the registry can hold one (Postgres text cannot), so no route need meet it.
- A body is read here and counted, and one over its route's limit gets 413 before
  anything parses it: `TYCHO_MAX_BODY_BYTES` in general, `TYCHO_MAX_RESULT_BYTES` for
  a worker's result (`POST /api/v1/jobs/{id}/complete`, the runs of every seed).
- A body sent with `Content-Encoding: gzip` is decompressed here, in a thread, a
  bounded piece at a time: the limit applies to the decompressed size, and no more
  than the limit (plus one byte) is ever inflated, however well the body compresses.
  Other encodings get 415.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from server.errors import problem_response
from server.settings import Settings

# Inflate at most this much per step, so that a bomb is stopped within one step.
INFLATE_STEP = 1 << 20


@dataclass(frozen=True)
class BodyLimit:
    """Bodies of requests whose path matches `path` may hold `max_bytes` (decompressed)."""

    path: re.Pattern[str]
    max_bytes: int
    setting: str  # the TYCHO_ variable that sets it, named in the 413
    advice: str  # what the sender can do about it


class _Refused(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class RequestLimits:
    """ASGI middleware: refuse NUL in URLs, bound request bodies, inflate gzip bodies."""

    def __init__(self, app: Any, *, default: BodyLimit, special: Sequence[BodyLimit] = ()) -> None:
        self.app = app
        self.default = default
        self.special = tuple(special)

    def limit_for(self, path: str) -> BodyLimit:
        return next((limit for limit in self.special if limit.path.match(path)), self.default)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_url(scope)
            limit = self.limit_for(scope["path"])
            headers = dict(scope.get("headers") or [])
            encoding = headers.get(b"content-encoding", b"identity").strip().lower()
            if encoding not in (b"identity", b"gzip", b"x-gzip"):
                raise _Refused(415, "Unsupported content encoding",
                               f"the body is encoded as {encoding.decode('latin-1')!r}; send it "
                               "as it is or compressed with gzip (Content-Encoding: gzip)")
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
                raise _too_large(limit)
            body = await _read_body(receive, limit)
            if encoding != b"identity":
                body = await anyio.to_thread.run_sync(_inflate, body, limit)
                scope = {**scope, "headers": [
                    (name, value) for name, value in scope["headers"]
                    if name not in (b"content-encoding", b"content-length")
                ] + [(b"content-length", str(len(body)).encode())]}
        except _Refused as refused:
            await problem_response(refused.status, refused.title, refused.detail)(
                scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _check_url(scope: dict) -> None:
    if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
        raise _Refused(400, "NUL in the URL",
                       "the URL holds a NUL character (%00), which no name, reference or "
                       "search in this registry can contain")


async def _read_body(receive: Any, limit: BodyLimit) -> bytes:
    """The whole body, counted as it arrives (a chunked body declares no length, and a
    declared one may lie). Raising inside the app's receive() would reach FastAPI's body
    parser as a 400, so the body is read here and replayed."""
    chunks, received = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        received += len(chunks[-1])
        if received > limit.max_bytes:
            raise _too_large(limit)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _inflate(compressed: bytes, limit: BodyLimit) -> bytes:
    """A gzip body, decompressed up to `limit` bytes: 413 beyond it, 400 if it is no gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts, size, pending = [], 0, compressed
    try:
        while not inflater.eof:
            room = limit.max_bytes - size
            piece = inflater.decompress(pending, min(room + 1, INFLATE_STEP))
            if not piece and not inflater.unconsumed_tail:
                break  # all input used, and no more output: truncated
            parts.append(piece)
            size += len(piece)
            if size > limit.max_bytes:
                raise _too_large(limit, decompressed=True)
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise _Refused(400, "Invalid gzip body", "the body says Content-Encoding: gzip but "
                       f"does not inflate ({exc})") from None
    if not inflater.eof:
        raise _Refused(400, "Invalid gzip body", "the gzip body ends before its end marker")
    if inflater.unused_data.strip(b"\0"):
        raise _Refused(400, "Invalid gzip body", "send one gzip member, not several")
    return b"".join(parts)


def _too_large(limit: BodyLimit, decompressed: bool = False) -> _Refused:
    return _Refused(413, "Request body too large",
                    f"the body is over the limit of {limit.max_bytes:,} bytes"
                    f"{' once decompressed' if decompressed else ''} ({limit.setting}); "
                    f"{limit.advice}")


def body_limits(settings: Settings) -> dict[str, Any]:
    """RequestLimits' options for `settings`: the general limit, and a worker's result's."""
    return dict(
        default=BodyLimit(re.compile(""), settings.max_body_bytes, "TYCHO_MAX_BODY_BYTES",
                          "log fewer points or fewer series, or send the body gzip-compressed "
                          "(Content-Encoding: gzip)"),
        special=[BodyLimit(re.compile(r"^/api/v1/jobs/[^/]+/complete$"),
                           settings.result_body_limit(), "TYCHO_MAX_RESULT_BYTES",
                           "this verification result (the runs of every seed) cannot be "
                           "recorded by this registry; the recipe logs more points than it "
                           "takes")],
    )
