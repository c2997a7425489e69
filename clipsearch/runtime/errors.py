"""Errors that become HTTP-style responses (whole request) or per-item errors (one slot)."""

from __future__ import annotations


class RequestError(Exception):
    """The whole request fails with `status` and a message saying what is wrong and what is allowed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> RequestError:
    return RequestError(400, message)


class ItemError(Exception):
    """One item fails; its slot in the response is null and `errors` says why."""


class ItemGone(ItemError):
    """The item's object does not exist (never did, or was deleted after it was listed)."""


class ItemUnavailable(ItemError):
    """The item could not be read now (S3 failed after its retries, or access was denied): not the
    item's fault, so a batch run stays unfinished and is retried."""
