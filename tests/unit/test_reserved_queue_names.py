"""Queue names that are taskq's own hash tags are refused: a queue's keys
carry its name as their hash tag, so a queue named ``td`` would share the
TaskDriver records' keys, and purging it would delete them."""

from __future__ import annotations

import pytest
import redis

from taskq import Queue
from taskq.errors import TaskqValueError
from taskq.keys import (RESERVED_QUEUE_NAMES, ScheduleKeys, TaskDriverKeys, WorkflowKeys,
                        valid_queue_name)


@pytest.mark.parametrize("name", sorted(RESERVED_QUEUE_NAMES))
def test_a_queue_may_not_be_named_like_a_key_group(name):
    assert not valid_queue_name(name)
    with pytest.raises(TaskqValueError, match="taskq's own key groups"):
        Queue(name, redis.Redis())


def test_every_key_group_tag_is_reserved():
    bases = [TaskDriverKeys("p").base, WorkflowKeys("p").base, ScheduleKeys("p").base]
    assert {b.split("{")[1].split("}")[0] for b in bases} == RESERVED_QUEUE_NAMES
    assert valid_queue_name("td-3f2a") and valid_queue_name("tdx")  # only the exact tags
