"""List pagination (AIP-158): page size rules and opaque, signed page tokens.

A token carries the sort key of the last item returned and a digest of the list's filter; it is
HMAC-signed so a caller can neither forge a position nor reuse a token with another filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_SIGNATURE_BYTES = 16


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: tuple | None  # sort key of the last item already returned


def page_size_violation(page_size: int) -> str | None:
    """0 asks for the default and more than the maximum gets the maximum (AIP-158); negative is an error."""
    return "must not be negative" if page_size < 0 else None


class PageTokens:
    def __init__(self, secret: bytes):
        self._secret = secret

    def parse(self, page_size: int, page_token: str, query: Any) -> PageRequest:
        """`query` is everything that shapes the list (parent, filter, order): a token only fits it."""
        violation = page_size_violation(page_size)
        if violation:
            raise InvalidArgument.field("page_size", violation)
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if not page_token:
            return PageRequest(size, None)
        payload = self._verify(page_token)
        if payload.get("q") != _digest(query):
            raise InvalidArgument.field("page_token", "belongs to a list with other parameters")
        return PageRequest(size, tuple(payload["k"]))

    def finish(self, fetched: list, page: PageRequest, sort_key, query: Any) -> tuple[list, str]:
        """`fetched` holds up to `page.size + 1` rows: the extra one only tells that more exist."""
        items = fetched[: page.size]
        if len(fetched) <= page.size:
            return items, ""
        body = json.dumps({"k": list(sort_key(items[-1])), "q": _digest(query)}, separators=(",", ":"),
                          default=str).encode()
        signature = hmac.new(self._secret, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return items, base64.urlsafe_b64encode(signature + body).decode().rstrip("=")

    def _verify(self, token: str) -> dict:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidArgument.field("page_token", "is not a token this service issued") from None
        signature, body = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if not hmac.compare_digest(signature, expected):
            raise InvalidArgument.field("page_token", "is not a token this service issued")
        return json.loads(body)


def _digest(query: Any) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]
