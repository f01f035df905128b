"""Store errors beyond the contract's NotFound/Conflict/Invalid."""

from __future__ import annotations

from functions.ports import StoreError

__all__ = ["Expired"]


class Expired(StoreError):
    """A watch asked for a resourceVersion the change log no longer holds (HTTP 410 Gone).

    Start over: list, then watch from the list's newest resourceVersion.
    """

    status = 410
