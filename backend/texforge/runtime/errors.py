"""The two exceptions every pipeline, script and operator agrees on."""

from __future__ import annotations


class Cancelled(Exception):
    """Raised inside a pipeline when ``should_stop()`` returned True; nothing has been written."""


class InputError(ValueError):
    """Bad user input. The message names the frame, file or setting at fault and what to do."""
