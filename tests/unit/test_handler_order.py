"""Ordering a handler's steps without recursion: Kahn's algorithm gives a
topological order where, among the steps ready, the first defined goes
next; a cycle of any length is named; and a handler has at most MAX_STEPS
steps (DESIGN invariant 10), refused at load time."""

from __future__ import annotations

import random
import sys

import pytest

from taskq.workflows import HandlerDefinitionError, parse_handler
from taskq.workflows.handlers import MAX_STEPS, StepTemplate, topological_order

STEP = "pkg.steps.Step"


def chain(n: int, close: bool = False) -> list[StepTemplate]:
    """s0 <- s1 <- ... <- s(n-1); with ``close``, s0 also needs the last."""
    return [StepTemplate(f"s{i}", STEP, depends_on_step=(f"s{i - 1}" if i else (f"s{n - 1}" if close else None)))
            for i in range(n)]


def definition(steps) -> dict:
    return {"namespace": "shop", "name": "long", "version": "1.0.0", "step_templates": steps}


def raw_chain(n: int) -> list[dict]:
    return [{"name": f"s{i}", "handler_class": STEP, **({"depends_on_step": f"s{i - 1}"} if i else {})}
            for i in range(n)]


def test_a_chain_far_past_the_recursion_limit_is_ordered_by_one_loop():
    n = sys.getrecursionlimit() * 50
    # defined last-first: nothing is ready early. A quadratic ordering of these
    # 50x-the-recursion-limit steps would not end within the test's timeout.
    order = topological_order(reversed(chain(n)), "python")
    assert order == [f"s{i}" for i in range(n)]


def test_a_long_cycle_is_named_without_recursion_and_briefly():
    n = sys.getrecursionlimit() * 5
    with pytest.raises(HandlerDefinitionError) as e:
        topological_order(chain(n, close=True), "handlers.yaml")
    text = str(e.value)
    assert text.startswith("handlers.yaml: step ") and "dependency cycle s0 -> " in text
    assert f"({n} steps)" in text and len(text) < 300


def test_a_cycle_behind_ready_steps_names_only_the_cycle():
    steps = [StepTemplate("a", STEP), StepTemplate("b", STEP, depends_on_step=["a", "d"]),
             StepTemplate("c", STEP, depends_on_step="b"), StepTemplate("d", STEP, depends_on_step="c")]
    with pytest.raises(HandlerDefinitionError) as e:
        topological_order(steps, "f.yaml")
    assert "dependency cycle b -> d -> c -> b" in str(e.value) and e.value.step == "c"


@pytest.mark.parametrize("seed", range(20))
def test_random_dags_order_dependencies_first_and_ready_steps_by_definition(seed):
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(60)]
    rank = list(range(60))
    rng.shuffle(rank)  # a hidden order the edges respect, so there is no cycle
    steps = []
    for i, name in enumerate(names):
        deps = [names[j] for j in range(60) if rank[j] < rank[i] and rng.random() < 0.08]
        steps.append(StepTemplate(name, STEP, depends_on_step=deps or None))
    order = topological_order(steps, "python")
    assert sorted(order) == sorted(names)
    placed: set[str] = set()
    defined = {s.name: i for i, s in enumerate(steps)}
    for name in order:
        ready = [s.name for s in steps if s.name not in placed and set(s.depends_on) <= placed]
        assert name == min(ready, key=defined.get)  # the first defined among the ready
        placed.add(name)


def test_a_handler_has_at_most_max_steps():
    assert len(parse_handler(definition(raw_chain(MAX_STEPS))).execution_order) == MAX_STEPS
    with pytest.raises(HandlerDefinitionError) as e:
        parse_handler(definition(raw_chain(1200)), source="big.yaml")
    assert str(e.value) == f"big.yaml: shop.long@1.0.0 has 1200 steps; a handler has at most {MAX_STEPS}"
