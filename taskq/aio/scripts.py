"""The engine's Lua scripts, called from asyncio: the same files, SHAs and
error handling as taskq.lua (NOSCRIPT loads and sends again; a write refused
by a full Redis is RedisFull)."""

from __future__ import annotations

from redis.exceptions import NoScriptError, ResponseError

from ..errors import is_oom, redis_full
from ..lua import all_scripts, script, settled


async def call_script(client, verb: str, keys: list, *args):
    """Run script ``verb`` on ``keys`` with ``args``; returns its reply."""
    s = script(verb)
    if len(keys) != s.numkeys:
        raise ValueError(f"{verb} takes {s.numkeys} keys, got {len(keys)}")
    try:
        try:
            return await client.evalsha(s.sha, s.numkeys, *keys, *args)
        except NoScriptError:
            await client.script_load(s.source)
            return await client.evalsha(s.sha, s.numkeys, *keys, *args)
    except ResponseError as exc:
        if is_oom(exc):
            raise redis_full(exc) from exc
        raise


async def call(client, verb: str, queue_keys, *args):
    """Run a queue script on the queue's keys (taskq.lua.call's twin)."""
    return await call_script(client, verb, queue_keys.script_keys, *args)


def queue_call(pipe, verb: str, queue_keys, *args) -> None:
    """Queue a queue script's call on ``pipe`` (run it with :func:`execute`)."""
    s = script(verb)
    pipe.evalsha(s.sha, s.numkeys, *queue_keys.script_keys, *args)


async def execute(client, pipe, raise_on_error: bool = True) -> list:
    """Run a pipeline of script calls; calls refused with NOSCRIPT are sent
    again once the scripts are loaded (taskq.lua.execute's twin)."""
    stack = _queued(pipe)
    try:
        replies = await pipe.execute(raise_on_error=False)
    except ResponseError as exc:
        if is_oom(exc):
            raise redis_full(exc) from exc
        raise
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        for s in all_scripts().values():  # on a cluster: every primary
            await client.script_load(s.source)
        for i in missing:
            args, options = stack[i]
            pipe.execute_command(*args, **options)
        for i, reply in zip(missing, await pipe.execute(raise_on_error=False)):
            replies[i] = reply
    return settled(replies, raise_on_error)


def _queued(pipe) -> list[tuple[tuple, dict]]:
    """The (args, options) of the commands queued on ``pipe``: a Pipeline's
    ``command_stack``; an asyncio ClusterPipeline has none and keeps them
    (PipelineCommand objects) in its execution strategy's queue."""
    stack = getattr(pipe, "command_stack", None)
    if stack is None:
        stack = pipe._execution_strategy._command_queue
    return [c if isinstance(c, tuple) else (c.args, c.kwargs) for c in stack]


__all__ = ["call", "call_script", "execute", "queue_call"]
