"""The REST dialects served over the engine, one folder each (routes and
schemas per resource, one ``DIALECT`` descriptor: api.dialects.base).
create_app registers them in this order; adding a dialect is adding its
folder and one entry here."""

from __future__ import annotations

from . import dts, schedules, taskdriver, tasker

DIALECTS = (dts.DIALECT, taskdriver.DIALECT, tasker.DIALECT, schedules.DIALECT)
