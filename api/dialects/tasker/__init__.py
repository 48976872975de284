"""The Tasker dialect (its API document), mounted on /tasker: handler
discovery, workflows ("tasks") and their steps, diagrams, analytics, health
and metrics. The engine half is taskq.workflows; errors take Tasker's own
bare shape (error style ``tasker``)."""

from __future__ import annotations

from ..base import Dialect
from . import routes_diagrams
from .state import NAME, SETTINGS, make_state

DIALECT = Dialect(
    name=NAME, url_prefix="/tasker",
    blueprints=(routes_diagrams.blp,),
    error_style="tasker", settings=SETTINGS, make_state=make_state, paths=("/",))
