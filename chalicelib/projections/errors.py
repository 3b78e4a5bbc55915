"""The transaction view's named errors, free of any transport: the API maps them.

- `InvalidQuery`: a client asked the view something it cannot answer (a lookup without
  exactly one of its keys, or a key value out of bounds). The API answers 400 with its
  `error_code`.
- `FoldError` (`UnknownEvent`, `HistoryGap`): the events cannot be folded into a record.
  A programming or data error, never the client's: the stream batch is retried and the
  read falls to a 500, so it is noticed rather than shown as a stale view.
"""

from __future__ import annotations


class InvalidQuery(ValueError):
    """A view lookup the client got wrong (HTTP 400 at the API)."""

    error_code = "INVALID_QUERY"


class InvalidAsOf(InvalidQuery):
    """`?as_of=` is not an ISO 8601 date-time (HTTP 400 at the API)."""

    error_code = "INVALID_AS_OF"


class AmbiguousStatusRequest(InvalidQuery):
    """A pacs.028 whose identifiers name no one transaction of the client's (HTTP 400)."""

    error_code = "AMBIGUOUS_STATUS_REQUEST"


class FoldError(Exception):
    """The events of a transaction cannot be folded into its view record."""

    error_code = "VIEW_FOLD_FAILED"


class UnknownEvent(FoldError):
    """An event class the fold has no rule for: a new Payment event needs one in
    chalicelib/projections/transactions.py before it may be recorded."""

    error_code = "UNKNOWN_EVENT"

    def __init__(self, event_class: type) -> None:
        super().__init__(f"the transaction view does not know the event {event_class.__qualname__}")
        self.event_class = event_class


class HistoryGap(FoldError):
    """Events that do not continue the record: a first event other than the creation, or a
    version that skips one. Folding them would show a state the payment never had."""

    error_code = "HISTORY_GAP"
