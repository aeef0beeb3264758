"""Log lines for journald: what ``spacewatch run`` writes to stderr under systemd.

systemd connects a service's stderr to the journal and says so in ``JOURNAL_STREAM``
(``<device>:<inode>`` of that stream). journald stamps every line with its own time, and
reads a line's priority from a ``<N>`` prefix (sd-daemon(3): ``<3>`` error, ``<4>``
warning, ``<6>`` info), so such lines carry no timestamp and start with their priority.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

#: syslog priorities of the logging levels (sd-daemon's SD_ERR, SD_WARNING, SD_INFO …).
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
              logging.DEBUG: 7}


def stderr_is_journal(environ: Mapping[str, str] | None = None,
                      stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr) is the journal stream systemd set up.

    ``JOURNAL_STREAM`` is inherited by children whose stderr may go elsewhere (a pipe,
    a file), so it counts only when it names this very stream (device and inode)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (OSError, ValueError, AttributeError):  # closed, or no file behind it
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


class JournalFormatter(logging.Formatter):
    """``<6>daemon started …``: the priority prefix on every line (a traceback's lines
    too, or journald would file them as info), no timestamp."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITIES.get(record.levelno, _nearest(record.levelno))}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def _nearest(level: int) -> int:
    """The priority of the nearest standard level at or below ``level`` (custom levels)."""
    known = [known for known in PRIORITIES if known <= level]
    return PRIORITIES[max(known)] if known else PRIORITIES[logging.DEBUG]
