"""A child process that must not outlive its parent (Linux only).

``prctl(PR_SET_PDEATHSIG)`` has the kernel signal the calling process when
the thread that started it exits. The libc handle is loaded once, at import,
not in every child (forking workers start one per task).
"""

from __future__ import annotations

import ctypes
import sys

PR_SET_PDEATHSIG = 1


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def signal_on_parent_death(signum: int) -> bool:
    """Ask for ``signum`` when the parent dies; False where that is not possible."""
    if _LIBC is None:
        return False
    try:
        return _LIBC.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except AttributeError:
        return False
