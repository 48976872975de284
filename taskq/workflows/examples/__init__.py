"""The example handler set (``TASKQ_EXAMPLES=1``): the payments, inventory
and notifications namespaces as the Tasker API document lists them, with
small real step code in this package."""

from __future__ import annotations

from ..handlers import EXAMPLES_FILE as HANDLERS_FILE, registry


def load_examples(reg=None):
    return (registry if reg is None else reg).load_yaml(HANDLERS_FILE)
