"""The transaction view's named errors, free of any transport: the API maps them.

- `InvalidQuery`: a client asked the view something it cannot answer (a lookup without
  exactly one of its keys, or a key value out of bounds). The API answers 400 with its
  `error_code`.
"""
from __future__ import annotations


class InvalidQuery(ValueError):
    """A view lookup the client got wrong (HTTP 400 at the API)."""

    error_code = "INVALID_QUERY"
