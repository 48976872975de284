"""The example handler set (``TASKQ_EXAMPLES=1``): the payments, inventory
and notifications namespaces as the Tasker API document lists them, with
small real step code in this package."""

from __future__ import annotations

from pathlib import Path

HANDLERS_FILE = Path(__file__).with_name("handlers.yaml")


def load_examples(reg=None):
    from ..handlers import registry
    return (registry if reg is None else reg).load_yaml(HANDLERS_FILE)
