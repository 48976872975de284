"""Which index zsets a workflow sits in, so a filtered page is a range read.

Every workflow is indexed under eight scopes, one per subset of its
(namespace, name, version): ``*`` (no filter), ``ns=payments``,
``ns=payments,name=refund``, ..., ``name=refund,ver=1.0.0``. A listing with
any combination of those filters reads exactly one zset, so a page is
ZREVRANGE over ``offset..offset+limit`` and its total one ZCARD.
Namespaces, names and versions never hold ',' or '=' (handlers.NAME_RE,
SEMVER_RE), so a scope string is unambiguous.

Each scope exists per state (keys.WORKFLOW_STATES): ``all`` and one per
status (pending, in_progress, complete, error, cancelled; ``open`` only in
data of older releases). A workflow sits in its ``all`` zsets and in those
of its status: 16 zset entries (about 1 KB), the price of O(page) listing
by any filter and status; a change of status moves 8 (taskq.workflows.status).
"""

from __future__ import annotations

from itertools import combinations

from ..keys import WorkflowKeys

FIELDS = (("ns", "namespace"), ("name", "name"), ("ver", "version"))
SCOPE_COUNT = 2 ** len(FIELDS)
FINISHED_STATES = ("complete", "error", "cancelled")


def scope(namespace: str | None = None, name: str | None = None,
          version: str | None = None) -> str:
    """The one scope a listing filter reads."""
    given = {"namespace": namespace, "name": name, "version": version}
    parts = [f"{short}={given[long]}" for short, long in FIELDS if given[long] is not None]
    return ",".join(parts) or "*"


def scopes(namespace: str, name: str, version: str) -> list[str]:
    """Every scope one workflow belongs to; '*' first, always in the same
    order (wf_state-5.lua builds the same list to move a workflow between
    statuses)."""
    values = {"namespace": namespace, "name": name, "version": version}
    out = []
    for n in range(len(FIELDS) + 1):
        for subset in combinations(FIELDS, n):
            out.append(",".join(f"{s}={values[l]}" for s, l in subset) or "*")
    return out


def state_keys(wk: WorkflowKeys, state: str, namespace: str, name: str, version: str) -> list[str]:
    """The SCOPE_COUNT zsets of one state holding this workflow ('*' first)."""
    return [wk.scoped(state, s) for s in scopes(namespace, name, version)]
