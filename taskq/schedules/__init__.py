"""Schedules: definitions that create runs on cron, rrule, once and event
triggers, in an IANA timezone (see timing), fired exactly once per due time
by any number of schedulers (see firing). Importing this package registers
the firing pass in taskq.maintenance.UPKEEP, so ``taskq scheduler`` fires
schedules.
"""

from __future__ import annotations

from .. import maintenance
from . import firing as _firing
from .firing import deliver, fire_due, publish
from .model import MISFIRE_POLICIES
from .steps import step
from .store import ScheduleNotFound, Schedules

if _firing.upkeep not in maintenance.UPKEEP:
    maintenance.UPKEEP.append(_firing.upkeep)

__all__ = ["Schedules", "ScheduleNotFound", "publish", "fire_due", "deliver", "step",
           "MISFIRE_POLICIES"]
