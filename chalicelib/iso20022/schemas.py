"""The shipped ISO 20022 XSDs, each compiled once per process on first use."""
from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from .errors import rejected

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
AVAILABLE = frozenset(p.stem for p in SCHEMA_DIR.glob("*.xsd"))

_compiled: dict[str, etree.XMLSchema] = {}
_lock = threading.Lock()
_XSD_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def schema(name: str) -> etree.XMLSchema:
    """The compiled XMLSchema for e.g. ``"pacs.008.001.08"`` (KeyError if not shipped)."""
    compiled = _compiled.get(name)
    if compiled is None:
        if name not in AVAILABLE:
            raise KeyError(f"no schema shipped for {name}")
        with _lock:
            compiled = _compiled.get(name)
            if compiled is None:
                tree = etree.parse(str(SCHEMA_DIR / f"{name}.xsd"), etree.XMLParser(**_XSD_PARSER))
                compiled = _compiled[name] = etree.XMLSchema(tree)
    return compiled


_PREFIX = re.compile(r"[^/\[\]:]+:")


def validate(element, name: str, *, label: str | None = None, msg_id: str | None = None) -> None:
    """Validate ``element`` (validated in place as if it were the root: no copy, no
    re-serialisation) against schema ``name``; raise MessageRejected (FF01) on failure.

    The narrative names the first error's kind, line and element path, never the value.
    """
    xsd = schema(name)
    if xsd.validate(element):
        return
    err = xsd.error_log[0] if xsd.error_log else None
    label = label or name
    if err is None:
        raise rejected(f"{label} schema violation", message_type=_type_of(name), msg_id=msg_id)
    path = _PREFIX.sub("", err.path or "")
    if len(path) > 90:
        path = "..." + path[-87:]
    raise rejected(f"{label} schema violation at line {err.line}: {err.type_name} {path}",
                   message_type=_type_of(name), msg_id=msg_id)


def _type_of(name: str) -> str | None:
    return None if name.startswith("head.") else name
