"""Every key a Lua script touches must arrive in KEYS.

Redis does not check this (and neither does fakeredis), yet a key built from
a literal breaks cluster routing and the hash-tag invariant. This test reads
every script with its includes inlined and checks each redis.call's key
arguments: they must be KEYS-derived (the queue table Q, KEYS[i], or a
``*key`` variable that is only ever assigned from those).
"""

from __future__ import annotations

import re

import pytest

from taskq.keys import SCRIPT_KEY_NAMES
from taskq.lua import LUA_DIR, all_scripts

# Commands whose every argument after the name is a key, and commands with no key.
ALL_KEYS = {"DEL", "EXISTS", "UNLINK"}
NO_KEYS = {"TIME"}
DERIVED_START = re.compile(r"^(Q\.[a-z_]+|Q\[|KEYS\[)")


def strip_comments(src: str) -> str:
    src = re.sub(r"--\[\[.*?\]\]", "", src, flags=re.S)
    return re.sub(r"--[^\n]*", "", src)


def split_args(src: str, start: int) -> tuple[list[str], int]:
    """Top-level comma-separated arguments of the call whose '(' is at start."""
    depth, quote, args, cur, i = 0, None, [], "", start
    while i < len(src):
        c = src[i]
        if quote:
            cur += c
            if c == "\\":
                cur += src[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            cur += c
        elif c in "({[":
            depth += 1
            if depth > 1:
                cur += c
        elif c in ")}]":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args, i
            cur += c
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    raise AssertionError("unbalanced call")


def is_derived(expr: str) -> bool:
    expr = expr.strip()
    if DERIVED_START.match(expr):
        return True
    return bool(re.fullmatch(r"[a-z_]*key", expr))


def redis_calls(src: str):
    for m in re.finditer(r"redis\.p?call\(", src):
        args, _ = split_args(src, m.end() - 1)
        yield args


SOURCES = {verb: strip_comments(s.source) for verb, s in all_scripts().items()}


@pytest.mark.parametrize("verb", sorted(SOURCES))
def test_every_key_argument_comes_from_keys(verb):
    src = SOURCES[verb]
    for args in redis_calls(src):
        cmd = args[0].strip("'\"").upper()
        if cmd in NO_KEYS:
            continue
        key_args = args[1:] if cmd in ALL_KEYS else args[1:2]
        for a in key_args:
            assert is_derived(a), f"{verb}: redis.call({', '.join(args)}) names key {a!r}"


@pytest.mark.parametrize("verb", sorted(SOURCES))
def test_key_variables_are_only_assigned_from_keys(verb):
    src = SOURCES[verb]
    for m in re.finditer(r"(?:local\s+)?\b([a-z_]*key)\s*=\s*([^\n]+)", src):
        name, rhs = m.group(1), m.group(2)
        if rhs.startswith("="):  # a comparison, not an assignment
            continue
        assert DERIVED_START.match(rhs.strip()), f"{verb}: {name} = {rhs}"


@pytest.mark.parametrize("verb", sorted(SOURCES))
def test_functions_taking_keys_are_given_keys(verb):
    src = SOURCES[verb]
    for fm in re.finditer(r"local function (\w+)\(([^)]*)\)", src):
        fname, params = fm.group(1), [p.strip() for p in fm.group(2).split(",")]
        key_pos = [i for i, p in enumerate(params) if p == "Q" or p.endswith("key")]
        for cm in re.finditer(rf"(?<![\w.]){fname}\(", src):
            if src[max(0, cm.start() - 15):cm.start()].endswith("function "):
                continue
            args, _ = split_args(src, cm.end() - 1)
            for i in key_pos:
                if i < len(args):
                    a = args[i]
                    ok = a == "Q" if params[i] == "Q" else is_derived(a)
                    assert ok, f"{verb}: {fname}() gets {a!r} for key parameter {params[i]}"


@pytest.mark.parametrize("verb", sorted(SOURCES))
def test_no_key_literals_and_q_is_read_only(verb):
    src = SOURCES[verb]
    assert "taskq" not in src
    for m in re.finditer(r"\bQ\.([a-z_]+)\s*=[^=]", src):
        assert m.group(1) == "name", f"{verb}: assigns Q.{m.group(1)}"


def test_queue_keys_include_matches_the_key_schema():
    text = (LUA_DIR / "includes" / "queue_keys.lua").read_text()
    pairs = re.findall(r"(\w+) = KEYS\[(\d+)\]", text)
    assert [name for name, _ in pairs] == list(SCRIPT_KEY_NAMES)
    assert [int(i) for _, i in pairs] == list(range(1, len(SCRIPT_KEY_NAMES) + 1))


def test_script_names_declare_their_key_count():
    for verb, s in all_scripts().items():
        assert "@include" not in s.source, f"{verb}: an include was not inlined"
        if "queue_keys.lua" in (LUA_DIR / f"{verb}-{s.numkeys}.lua").read_text():
            assert s.numkeys == len(SCRIPT_KEY_NAMES), verb
        else:
            used = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", s.source)}
            assert used == set(range(1, s.numkeys + 1)), f"{verb} uses KEYS {sorted(used)}"


def test_the_checker_catches_a_literal_key():
    bad = "redis.call('HSET', 'taskq:{x}:meta', 'a', 1)"
    args = next(redis_calls(bad))
    assert not is_derived(args[1])
    assert is_derived("Q.task_prefix .. id") and is_derived("tkey") and is_derived("Q[st]")
