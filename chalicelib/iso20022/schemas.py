"""The shipped ISO 20022 XSDs, each compiled once per process on first use."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from .errors import rejected, safe_text

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
AVAILABLE = frozenset(p.stem for p in SCHEMA_DIR.glob("*.xsd"))

_compiled: dict[str, etree.XMLSchema] = {}
_lock = threading.Lock()


def schema(name: str) -> etree.XMLSchema:
    """The compiled XMLSchema for e.g. ``"pacs.008.001.08"`` (KeyError if not shipped)."""
    compiled = _compiled.get(name)
    if compiled is None:
        if name not in AVAILABLE:
            raise KeyError(f"no schema shipped for {name}")
        with _lock:
            compiled = _compiled.get(name)
            if compiled is None:
                parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
                tree = etree.parse(str(SCHEMA_DIR / f"{name}.xsd"), parser)
                compiled = _compiled[name] = etree.XMLSchema(tree)
    return compiled


_STEP = re.compile(r"^(?:[^/\[\]:]+:)?([^/\[\]:]+)(?:\[(\d+)\])?$")


def _readable_path(root: etree._Element, path: str) -> str:
    """libxml2 writes ``/*/*[2]`` for default-namespace elements: replace each step by
    the local name of the element it designates (cold path, only for a failure)."""
    steps = path.split("/")[2:]  # drop "" and the root step
    names, el = [root.tag.rpartition("}")[2]], root
    for step in steps:
        m = _STEP.match(step)
        if m is None:
            break
        name, index = m.group(1), int(m.group(2) or 1)
        kids = [k for k in el if isinstance(k.tag, str)
                and (name == "*" or k.tag.rpartition("}")[2] == name)]
        if len(kids) < index:
            break
        el = kids[index - 1]
        names.append(el.tag.rpartition("}")[2])
    else:
        return "/" + "/".join(safe_text(n, 40) for n in names)
    return safe_text(re.sub(r"[^/\[\]:]+:", "", path), 200)


def validate(element: etree._Element, name: str, *, label: str | None = None, msg_id: str | None = None) -> None:
    """Validate ``element`` (validated in place as if it were the root: no copy, no
    re-serialisation) against schema ``name``; raise MessageRejected (FF01) on failure.

    The narrative names the first error's kind, line and element path, never the value.
    """
    xsd = schema(name)
    if xsd.validate(element):
        return
    log: Any = xsd.error_log  # lxml-stubs declares the error log without its members
    err = log[0] if log else None
    label = label or name
    if err is None:
        raise rejected(f"{label} schema violation", message_type=_type_of(name), msg_id=msg_id)
    path = _readable_path(element, err.path or "")
    if len(path) > 90:
        path = "..." + path[-87:]
    what = _KINDS.get(err.type_name, err.type_name)
    raise rejected(f"{label} schema violation at line {err.line}: {what} at {path}",
                   message_type=_type_of(name), msg_id=msg_id)


_KINDS = {
    "SCHEMAV_ELEMENT_CONTENT": "unexpected or missing element",
    "SCHEMAV_CVC_ELT_1": "root element not declared",
    "SCHEMAV_CVC_PATTERN_VALID": "value does not match its pattern",
    "SCHEMAV_CVC_MAXLENGTH_VALID": "value too long",
    "SCHEMAV_CVC_MINLENGTH_VALID": "value too short",
    "SCHEMAV_CVC_ENUMERATION_VALID": "value not in the code list",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": "value of the wrong type",
    "SCHEMAV_CVC_TOTALDIGITS_VALID": "too many digits",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": "too many decimals",
    "SCHEMAV_CVC_COMPLEX_TYPE_4": "missing attribute",
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1": "attribute not allowed",
}


def _type_of(name: str) -> str | None:
    return None if name.startswith("head.") else name
