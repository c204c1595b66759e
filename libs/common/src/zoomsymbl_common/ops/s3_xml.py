"""Reading the XML answers of the S3 listings ``zoomsymbl forget`` reads itself, not through minio-py
(:mod:`~zoomsymbl_common.ops.forget_objects`' versions, :mod:`~zoomsymbl_common.ops.forget_uploads`' uploads).

S3 answers in its 2006-03-01 namespace, some servers in none: elements are found by their local name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


def local_name(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def child_text(element: ET.Element, name: str) -> str:
    """The text of ``element``'s first child called ``name`` (any namespace); empty when there is none."""
    for child in element:
        if local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""
