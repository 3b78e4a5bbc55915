"""Secure XML intake: size, DTD, encoding, well-formedness and depth checks.

The parser never loads a DTD, never resolves an entity, never touches the network and
refuses any DOCTYPE, so XXE, billion-laughs and external-DTD attacks have nothing to
work with. ISO 20022 messages are UTF-8, so the encoding is forced: a declaration that
says otherwise, a UTF-16 body or invalid UTF-8 is a rejection, and a DOCTYPE can only
hide as the literal bytes ``<!DOCTYPE``, which are refused before parsing.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from lxml import etree

from .errors import rejected

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 100

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers must not be shared between threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            encoding="utf-8",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_pis=True,
            remove_comments=True,
            collect_ids=False,
            recover=False,
        )
    return parser


@lru_cache(maxsize=8)
def _deeper_than(depth: int) -> etree.XPath:
    """XPath true when some element lies deeper than ``depth`` (evaluated in C)."""
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth + 1)) + ")")


_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")


def parse_xml(
    raw: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> etree._Element:
    """Parse an untrusted message body; return the root element or raise MessageRejected."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    elif not isinstance(raw, bytes):
        if not isinstance(raw, (bytearray, memoryview)):
            raise rejected("message body is not bytes")
        raw = bytes(raw)
    if len(raw) > max_bytes:
        raise rejected(f"message exceeds {max_bytes} bytes")
    if not raw.strip():
        raise rejected("empty message body")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
        raise rejected("encoding other than UTF-8 (UTF-16/32)")
    if b"<!DOCTYPE" in raw:
        raise rejected("DOCTYPE/DTD not allowed")
    declared = _DECLARED_ENCODING.match(raw)
    if declared and declared[1].lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise rejected("declared encoding other than UTF-8")
    try:
        raw.decode("utf-8")  # strict: only bytes that are not UTF-8 are invalid UTF-8
    except UnicodeDecodeError as exc:
        raise rejected(f"invalid UTF-8 at byte {exc.start}") from None
    # U+FFFD (bytes EF BF BD) is a legal XML character and valid UTF-8: a message may carry
    # it in a name or a comment. It is not taken as a sign of invalid input. A body that a
    # gateway decoded *with replacement* cannot be told apart from one the client sent with
    # U+FFFD in it, so no guess is made here: invalid client bytes are only detectable when
    # the body reaches the service as the bytes that were sent (XML as a binary media type,
    # base64 through API Gateway), and then the strict decoding above refuses them.
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise rejected(_syntax_narrative(exc)) from None
    except (ValueError, TypeError):  # lxml refusals outside libxml2 (should not happen)
        raise rejected("not well-formed XML") from None
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs' DocInfo lacks doctype and the DTDs
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise rejected("DOCTYPE/DTD not allowed")  # belt and braces: the scan above catches it
    if _deeper_than(max_depth)(root):
        raise rejected(f"XML nesting deeper than {max_depth} levels")
    return root


def _syntax_narrative(exc: etree.XMLSyntaxError) -> str:
    """Where and what kind of error — never libxml2's message, which can quote the input."""
    log: Any = exc.error_log  # lxml-stubs declares the error log without its members
    err = log.last_error if log else None
    if err is None:
        return "not well-formed XML"
    kind = {
        "ERR_INVALID_ENCODING": "invalid UTF-8",
        "ERR_UNSUPPORTED_ENCODING": "encoding other than UTF-8",
        "ERR_DOCUMENT_EMPTY": "not XML",
        "ERR_DOCUMENT_END": "content after the root element",
        "ERR_UNDECLARED_ENTITY": "undeclared entity",
        "ERR_RESOURCE_LIMIT": "XML nesting or size limit exceeded",
        "ERR_INVALID_CHAR": "character not allowed in XML",
    }.get(err.type_name, "not well-formed XML")
    return f"{kind} ({err.type_name}) at line {err.line}, column {err.column}"
