"""The one base class of the errors a user can fix: bad input, a missing file or folder,
a busy data dir. The CLI prints such an error's message on one line and exits 2; any
other exception is a bug and keeps its traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what, where, and what to do."""
