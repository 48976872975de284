"""User JSON is stored as the exact text taskq encoded, through enqueue and
through update: Lua never decodes and re-encodes it (cjson turns [] into
{} and rounds integers above 2^53). Meta is merged in Python, and the
update script writes it only if no other update came in between."""

from __future__ import annotations

import json
import threading

import pytest

import taskq.queue as queue_mod
from taskq import Conflict, TaskqValueError
from taskq.options import MAX_JSON_DEPTH

HOSTILE = {
    "empty_list": [], "empty_obj": {}, "big": 12345678901234567, "nested": [[], [[]], {"a": []}],
    "float": 0.1, "unicode": "é ✓ 😀", "neg": -9007199254740993, "tiny": 1e-300, "nul": "a\u0000b",
    "slash": "a/b\\c\"d",
}


def _raw(q, task_id, field):
    return q.redis.hget(q.qkeys.task(task_id), field)


def _encoded(value) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def test_enqueue_stores_args_kwargs_and_meta_as_sent(q):
    t = q.enqueue_call("m:f", args=[HOSTILE, [], 12345678901234567], kwargs={"k": HOSTILE},
                       meta=HOSTILE, tags=["é", "a/b"])
    got = q.get(t.id)
    assert got.args == [HOSTILE, [], 12345678901234567]
    assert got.kwargs == {"k": HOSTILE} and got.meta == HOSTILE and got.tags == ["é", "a/b"]
    assert _raw(q, t.id, "meta") == _encoded(HOSTILE)
    assert _raw(q, t.id, "args") == _encoded([HOSTILE, [], 12345678901234567])


def test_update_keeps_every_meta_value_exactly(q):
    t = q.enqueue_call("m:f", meta=HOSTILE)
    q.update(t.id, meta={"added": [], "float": 0.30000000000000004}, priority=3)
    want = {**HOSTILE, "float": 0.30000000000000004, "added": []}
    assert q.get(t.id).meta == want
    assert _raw(q, t.id, "meta") == _encoded(want)  # untouched fields: byte for byte


def test_update_of_other_fields_leaves_meta_text_alone(q):
    t = q.enqueue_call("m:f", meta=HOSTILE, tags=["a"])
    before = _raw(q, t.id, "meta")
    q.update(t.id, tags=["b", "é"], depends_on=[], max_retries=1)
    assert _raw(q, t.id, "meta") == before
    assert q.get(t.id).tags == ["b", "é"] and q.list_ids(tag="é") == [t.id]


def test_meta_values_set_by_update_are_exact(q):
    t = q.enqueue_call("m:f")
    q.update(t.id, meta={"v": {"items": [], "n": 12345678901234567, "x": [[[]]]}})
    assert q.get(t.id).meta == {"v": {"items": [], "n": 12345678901234567, "x": [[[]]]}}
    q.update(t.id, meta={"v": None})
    assert q.get(t.id).meta == {} and _raw(q, t.id, "meta") is None


def test_meta_as_a_function_of_the_current_meta(q):
    t = q.enqueue_call("m:f", meta={"vars": {"a": 1}})
    q.update(t.id, meta=lambda cur: {"vars": {**cur["vars"], "b": []}})
    assert q.get(t.id).meta == {"vars": {"a": 1, "b": []}}


def test_a_write_between_read_and_update_is_not_lost(q, monkeypatch):
    """Another update lands after Queue.update read the meta: the script
    sees 'ver' moved, refuses, and the merge is done again on the new meta."""
    t = q.enqueue_call("m:f", meta={"a": 1})
    real_merge, calls = queue_mod.merge_meta, []

    def merge_with_a_racer(stored, changes):
        calls.append(stored)
        if len(calls) == 1:  # a concurrent writer, between our read and our script
            q.redis.hset(q.qkeys.task(t.id), mapping={"meta": '{"a":1,"racer":[]}', "ver": "7"})
        return real_merge(stored, changes)

    monkeypatch.setattr(queue_mod, "merge_meta", merge_with_a_racer)
    q.update(t.id, meta={"mine": 12345678901234567})
    assert len(calls) == 2
    assert q.get(t.id).meta == {"a": 1, "racer": [], "mine": 12345678901234567}


def test_a_meta_that_keeps_changing_is_a_conflict(q, monkeypatch):
    t = q.enqueue_call("m:f", meta={"a": 1})
    real_merge = queue_mod.merge_meta

    def always_raced(stored, changes):
        q.redis.hincrby(q.qkeys.task(t.id), "ver", 1)
        return real_merge(stored, changes)

    monkeypatch.setattr(queue_mod, "merge_meta", always_raced)
    with pytest.raises(Conflict):
        q.update(t.id, meta={"b": 2})
    assert q.get(t.id).meta == {"a": 1}


def test_concurrent_meta_updates_lose_nothing(q, monkeypatch):
    monkeypatch.setattr(queue_mod, "UPDATE_ATTEMPTS", 10_000)  # test the fence, not the budget
    t = q.enqueue_call("m:f", meta={"keep": []})
    errors = []

    def writer(name):
        try:
            for i in range(40):
                q.update(t.id, meta={f"{name}{i}": [i]})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in "abc"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    meta = q.get(t.id).meta
    assert meta == {"keep": [], **{f"{n}{i}": [i] for n in "abc" for i in range(40)}}


# -- limits: nesting depth and lone surrogates, refused before Redis -------------

def _nest(levels):
    v = []
    for _ in range(levels - 1):
        v = [v]
    return v


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 900, 990, 10_000])
@pytest.mark.parametrize("where", ["args", "kwargs", "meta"])
def test_too_deep_values_are_refused_naming_the_option(q, where, levels):
    value = _nest(levels)
    options = {"args": {"args": [value]}, "kwargs": {"kwargs": {"k": value}},
               "meta": {"meta": {"k": value}}}[where]
    with pytest.raises(TaskqValueError) as err:
        q.enqueue_call("m:f", **options)
    assert err.value.field == where
    assert q.count() == 0


def test_the_deepest_allowed_value_round_trips(q):
    value = {"k": _nest(MAX_JSON_DEPTH - 1)}  # the dict is one level
    t = q.enqueue_call("m:f", meta=value, args=[_nest(MAX_JSON_DEPTH - 1)])
    assert q.get(t.id).meta == value
    q.update(t.id, meta={"other": 1})
    assert q.get(t.id).meta == {**value, "other": 1}
    with pytest.raises(TaskqValueError) as err:
        q.update(t.id, meta={"k": _nest(MAX_JSON_DEPTH)})
    assert err.value.field == "meta"


@pytest.mark.parametrize("options", [
    {"tags": ["ok", "\udfff"]}, {"meta": {"name": "\udfff"}}, {"meta": {"\ud800": 1}},
    {"args": ["x\udfffy"]}, {"kwargs": {"k": ["\ud83d"]}}, {"dedupe_key": "\udfff"},
    {"concurrency_key": "\udfff"}, {"task_id": "a\udfff"}, {"depends_on": ["default:\udfff"]},
], ids=lambda o: next(iter(o)))
def test_lone_surrogates_are_refused_at_enqueue(q, options):
    with pytest.raises(TaskqValueError, match="surrogate"):
        q.enqueue_call("m:f", **options)


def test_lone_surrogates_are_refused_at_update(q):
    t = q.enqueue_call("m:f")
    for changes in ({"tags": ["\udfff"]}, {"meta": {"n": "\udfff"}}):
        with pytest.raises(TaskqValueError, match="surrogate"):
            q.update(t.id, **changes)


def test_characters_beyond_the_bmp_and_escaped_backslashes_are_fine(q):
    # what a lone-surrogate check must not mistake for one
    meta = {"emoji": "😀", "text": "\\udfff", "both": "\\\\😀"}
    t = q.enqueue_call("m:f", meta=meta, tags=["😀"])
    assert q.get(t.id).meta == meta
    q.update(t.id, meta={"more": "𝄞"})
    assert q.get(t.id).meta == {**meta, "more": "𝄞"}
