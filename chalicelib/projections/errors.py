"""Named errors of the transaction view's queries (chalicelib/api.py maps them to HTTP)."""


class InvalidQuery(ValueError):
    error_code = "INVALID_QUERY"
