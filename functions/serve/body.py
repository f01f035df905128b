"""Reading a request body defensively: capped before it is read, whatever the encoding.

A body is read in pieces up to one byte past the limit, so a chunked body (no
Content-Length) of 50 MiB costs at most the limit in memory. A malformed chunked body,
a client that disconnects halfway, or one that does not finish within the server's read
deadline (``functions.serve.worker``) is the client's fault: 400 or 408, never 500.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Final

from events.errors import MalformedEvent

__all__ = ["BodyError", "bearer_matches", "read_capped"]

_PIECE: Final = 64 * 1024


class BodyError(MalformedEvent):
    """The body could not be read as sent; ``status`` is the HTTP answer (400, 408 or 413)."""

    def __init__(self, message: str, *, status: int = 400, reason: str = "MalformedBody") -> None:
        super().__init__(message, reason=reason)
        self.status = status


def read_capped(read: Callable[[int], bytes], length: int | None, limit: int) -> bytes:
    """The body, or ``BodyError`` (413) once it passes ``limit`` bytes; nothing more is read."""
    if length is not None and length > limit:
        raise too_large(limit)
    from gunicorn.http.errors import NoMoreData, ParseException

    pieces: list[bytes] = []
    total = 0
    try:
        while total <= limit:
            piece = read(min(_PIECE, limit + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
    except TimeoutError as exc:  # the worker's read deadline (a NoMoreData too): check first
        raise BodyError(
            "the request body did not arrive in time", status=408, reason="RequestTimeout"
        ) from exc
    except NoMoreData as exc:
        raise BodyError("the client closed the connection before the body ended") from exc
    except ParseException as exc:
        raise BodyError(f"the request body is malformed: {type(exc).__name__}") from exc
    except (OSError, ValueError) as exc:  # werkzeug's ClientDisconnected is a ValueError too
        raise BodyError(f"the request body could not be read: {type(exc).__name__}") from exc
    if total > limit:
        raise too_large(limit)
    return b"".join(pieces)


def too_large(limit: int) -> BodyError:
    """The 413 for a body over ``limit`` bytes."""
    return BodyError(
        f"body exceeds the limit of {limit} bytes", status=413, reason="RequestEntityTooLarge"
    )


def bearer_matches(header: str | None, token: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` (compared in constant time)."""
    scheme, _, offered = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not offered:
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())
