"""list_workflows from indexes: every filter combination and status answers
what reading every workflow answers, and a page costs a page."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
import redis

from taskq.connection import cluster_node_url
from taskq import Queue
from taskq.lease import complete_many
from taskq.workflows import WORKFLOW_QUEUE, cancel_step, create, get, list_workflows
from taskq.workflows.sweep import sweep

from workflow_drive import complete, fail, registry

HANDLERS = ["shop.pay", "shop.ship", "back.audit"]


@pytest.fixture
def mixed(r, prefix):
    """60 workflows of three handlers in every status, some not yet swept."""
    rng = random.Random(7)
    reg = registry()
    ids = []
    for i in range(60):
        wf = create(r, rng.choice(HANDLERS), registry=reg, prefix=prefix)
        first = wf["steps"][0]["name"]
        kind = rng.random()
        if kind < 0.3:
            complete(r, prefix, wf)
        elif kind < 0.45:
            fail(r, prefix, wf, first)
        elif kind < 0.55:
            cancel_step(r, wf["id"], first, prefix=prefix)
        elif kind < 0.7 and len(wf["steps"]) > 1:
            complete(r, prefix, wf, first)  # in progress
        ids.append(wf["id"])
        if i == 40:
            sweep(r, prefix)  # the rest stays unrecorded until a listing reads it
    return ids


def reference(every, namespace=None, name=None, version=None, status=None):
    return [w["id"] for w in every
            if (namespace is None or w["namespace"] == namespace) and (name is None or w["name"] == name)
            and (version is None or w["version"] == version) and (status is None or w["status"] == status)]


FILTERS = [dict(zip(("namespace", "name", "version"), combo)) for combo in itertools.product(
    [None, "shop", "back"], [None, "pay", "audit"], [None, "1.0.0", "2.0.0"])]


STATUSES = [None, "pending", "in_progress", "complete", "error", "cancelled"]


def test_every_filter_and_status_matches_a_full_read(r, prefix, mixed):
    every = [get(r, wid, prefix=prefix) for wid in reversed(mixed)]  # newest first
    assert {w["status"] for w in every} == set(STATUSES[1:])
    for status, filters in itertools.product(STATUSES, FILTERS):
        want = reference(every, status=status, **filters)
        page, total = list_workflows(r, status=status, prefix=prefix, offset=0, limit=100, **filters)
        assert ([w["id"] for w in page], total) == (want, len(want)), (filters, status)
        page, total = list_workflows(r, status=status, prefix=prefix, offset=2, limit=3, **filters)
        assert [w["id"] for w in page] == want[2:5] and total == len(want)


@pytest.fixture
def counted(redis_url):
    if cluster_node_url(redis_url) is not None:
        pytest.skip("counts the commands of one plain Redis client")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    counts: Counter = Counter()
    send = client.execute_command

    def execute_command(*args, **options):
        counts[str(args[0]).upper()] += 1
        return send(*args, **options)

    client.execute_command = execute_command
    client.counts = counts
    yield client
    client.close()


def test_a_page_costs_a_page(r, prefix, counted, monkeypatch):
    reg = registry()
    ids = [create(r, "shop.pay", registry=reg, prefix=prefix)["id"] for _ in range(250)]
    leases = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix).claim(200)  # the oldest 200
    complete_many(r, [(lease, None) for lease in leases])
    sweep(r, prefix)
    sweep(r, prefix)  # 200 per tick
    from redis.client import Pipeline
    run = Pipeline.execute

    def execute(self, raise_on_error=True):
        if self.connection_pool is counted.connection_pool:
            counted.counts.update(str(a[0]).upper() for a, _ in self.command_stack)
        return run(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", execute)
    counted.counts.clear()
    page, total = list_workflows(counted, namespace="shop", offset=100, limit=10, prefix=prefix)
    assert total == 250 and len(page) == 10
    reads = sum(counted.counts.values())
    assert reads <= 2 + 10 * 3, counted.counts  # range + count, then a record and a step per workflow
    counted.counts.clear()
    page, total = list_workflows(counted, status="complete", offset=0, limit=10, prefix=prefix)
    assert total == 200 and len(page) == 10
    # a status page is a page too: the 50 open ones are not read
    assert sum(counted.counts.values()) <= 2 + 10 * 2, counted.counts
    counted.counts.clear()
    page, total = list_workflows(counted, status="pending", offset=40, limit=10, prefix=prefix)
    assert total == 50 and len(page) == 10
    assert sum(counted.counts.values()) <= 2 + 10 * 2, counted.counts
