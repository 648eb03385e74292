"""File names built from data (agent names, source file names): safe, short, confined."""

from __future__ import annotations

import hashlib
import re


def safe_name(text: str) -> str:
    """`text` (from data) as a file name: runs of anything but letters, digits, `.`, `_`
    and `-` become `-`; no leading or trailing dots or dashes."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")


def file_stem(text: str, limit: int = 80) -> str:
    """A file name stem for `text` (from data) that stays in its folder: safe_name, cut to
    `limit`, with a hash of `text` when anything had to change, so two names that differ
    only in unsafe characters (or past the cut) never share a file."""
    safe = safe_name(text)[:limit] or "unnamed"
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
