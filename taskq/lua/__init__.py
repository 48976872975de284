"""Loads taskq/lua/: inlines includes, checks key counts, calls by SHA.

A script file is ``<verb>-<numkeys>.lua``; the number is how many KEYS it
takes, so a call with a different count fails here, before Redis. Includes are
written ``--- @include "includes/<name>.lua"`` and inlined once each (nested
includes first), so a script is one self-contained chunk whose SHA is stable.
redis-py's ``Script`` loads on NOSCRIPT, also inside pipelines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from redis.client import Pipeline
from redis.cluster import ClusterPipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError

from taskq.cluster import SlotPipeline, know_scripts
from taskq.errors import is_oom, redis_full

LUA_DIR = Path(__file__).parent
_INCLUDE_RE = re.compile(r'^--- @include "([^"]+)"\s*$', re.MULTILINE)
_PIPELINES = (Pipeline, ClusterPipeline, SlotPipeline)
_NAME_RE = re.compile(r"^(?P<verb>[a-z_]+)-(?P<numkeys>\d+)\.lua$")


def _inline(path: Path, seen: set[str]) -> str:
    text = path.read_text()

    def replace(match: re.Match) -> str:
        rel = match.group(1)
        if rel in seen:
            return ""
        seen.add(rel)
        return _inline(LUA_DIR / rel, seen)

    return _INCLUDE_RE.sub(replace, text)


_FUNCTION_RE = re.compile(r"^local function (\w+)\(.*?\n(?:(?:[ \t].*|--.*|)\n)*?end\n",
                          re.MULTILINE)
"""A top-level local function: header and ``end`` at column 0, every line
between them indented, a comment or blank (the includes' layout)."""


def _unused_functions_removed(source: str) -> str:
    # Redis runs a script's whole chunk on every call, so each local
    # function an include defines costs a closure per call (~0.2 us) even
    # when the script never calls it. Drop those nobody names, until none is left.
    while True:
        kept, dropped = source, False
        for m in _FUNCTION_RE.finditer(source):
            rest = source[:m.start()] + source[m.end():]
            if not re.search(rf"\b{m.group(1)}\b", rest):
                kept = kept.replace(m.group(0), "", 1)
                dropped = True
        if not dropped:
            return source
        source = kept


def render(path: Path) -> str:
    """The full source of a script with every include inlined once and the
    included functions it never calls left out."""
    return _unused_functions_removed(_inline(path, set()))


@dataclass
class LuaScript:
    verb: str
    numkeys: int
    source: str

    def __post_init__(self) -> None:
        # registered_client=None: we always pass the client (or pipeline).
        self._script = Script(None, self.source.encode())
        # sent as bytes, which redis-py passes through without encoding
        self._evalsha = (self._script.sha.encode(), str(self.numkeys).encode())

    @property
    def sha(self) -> str:
        return self._script.sha

    def __call__(self, client, keys, args):
        if len(keys) != self.numkeys:
            raise ValueError(f"{self.verb} takes {self.numkeys} keys, got {len(keys)}")
        if isinstance(client, _PIPELINES):
            return self._script(keys=keys, args=args, client=client)
        try:
            try:  # EVALSHA at once: redis-py's Script adds checks and copies to every call
                return client.execute_command("EVALSHA", *self._evalsha, *keys, *args)
            except NoScriptError:  # Script loads it, then runs it
                return self._script(keys=keys, args=args, client=client)
        except ResponseError as exc:
            if is_oom(exc):  # refused at its first write: nothing written
                raise redis_full(exc) from exc
            raise


@cache
def all_scripts() -> dict[str, LuaScript]:
    scripts = {}
    for path in sorted(LUA_DIR.glob("*.lua")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise RuntimeError(f"bad Lua script name {path.name}: want <verb>-<numkeys>.lua")
        scripts[m["verb"]] = LuaScript(m["verb"], int(m["numkeys"]), render(path))
    know_scripts(s.source for s in scripts.values())
    return scripts


def script(verb: str) -> LuaScript:
    return all_scripts()[verb]


def call(client, verb: str, queue_keys, *args):
    """Run a queue script on the queue's keys; returns the script's reply.

    On a pipeline the call is queued as a bare EVALSHA (run the pipeline with
    :func:`execute`): redis-py's own script handling would add a SCRIPT
    EXISTS round trip to every pipeline."""
    s = script(verb)
    if isinstance(client, (Pipeline, SlotPipeline)):
        return client.evalsha(s.sha, s.numkeys, *queue_keys.script_keys, *args)
    return s(client, queue_keys.script_keys, args)


def call_with_keys(client, verb: str, keys: list[str], *args):
    """Run a script that is not a queue script, on the keys it declares."""
    return script(verb)(client, keys, args)


def execute(pipe: Pipeline, raise_on_error: bool = True) -> list:
    """Run a pipeline of script calls in one round trip. Calls refused with
    NOSCRIPT (a restarted or flushed server) were not run: load the scripts
    and send just those calls again."""
    stack = [(args, options) for args, options in pipe.command_stack]
    try:
        replies = pipe.execute(raise_on_error=False)
    except ResponseError as exc:
        if is_oom(exc):
            raise redis_full(exc) from exc
        raise
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        for s in all_scripts().values():
            pipe.script_load(s.source)
        pipe.execute()
        for i in missing:
            args, options = stack[i]
            pipe.execute_command(*args, **options)
        for i, reply in zip(missing, pipe.execute(raise_on_error=False)):
            replies[i] = reply
    return settled(replies, raise_on_error)


def settled(replies: list, raise_on_error: bool) -> list:
    """A pipeline's replies with a write a full Redis refused as RedisFull
    (whoever raises the reply), the first error raised if asked to."""
    replies = [redis_full(r) if is_oom(r) else r for r in replies]
    if raise_on_error:
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
    return replies
