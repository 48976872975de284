"""``taskq workflows list|show|cancel``: workflows (taskq.workflows) for operators."""

from __future__ import annotations

import click

from taskq.errors import InvalidState, TaskqValueError

from .common import OpsError, json_option, ops_command
from .output import emit_json, fields, table

STATUSES = ("pending", "in_progress", "complete", "error", "cancelled")
STEP_COLUMNS = ("step", "status", "attempts", "duration ms", "started", "error")


def _row(wf: dict) -> list:
    done = sum(s["status"] in ("complete", "skipped") for s in wf["steps"])
    return [wf["id"], wf["full_name"], wf["status"], f"{done}/{len(wf['steps'])}", wf["created_at"]]


def _last_line(text: str | None) -> str:
    """An error's last line (a traceback's says what went wrong)."""
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def _find(ops, workflow_id: str) -> dict:
    from taskq.workflows import WorkflowNotFound, get

    try:
        return get(ops.redis, workflow_id, prefix=ops.prefix)
    except WorkflowNotFound:
        raise OpsError(f"workflow {workflow_id} not found") from None


@click.group()
def workflows() -> None:
    """List and inspect workflows; cancel their steps."""


@workflows.command("list")
@click.option("--status", "-s", type=click.Choice(STATUSES), help="Only workflows in this status.")
@click.option("--namespace", help="Only this handler namespace.")
@click.option("--name", help="Only this handler name.")
@click.option("--version", "version", help="Only this handler version.")
@click.option("--limit", "-n", default=25, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
@ops_command
def list_cmd(ops, status, namespace, name, version, limit: int, offset: int, as_json: bool) -> None:
    """Workflows newest first, with their status and steps done."""
    from taskq.workflows import list_workflows

    try:
        found, total = list_workflows(ops.redis, namespace=namespace, name=name, version=version,
                                      status=status, offset=offset, limit=limit, prefix=ops.prefix)
    except TaskqValueError as exc:
        raise OpsError(str(exc), exit_code=2) from None
    if as_json:
        emit_json({"total": total, "workflows": found})
        return
    click.echo(table(["workflow", "handler", "status", "steps done", "created"],
                     [_row(wf) for wf in found], empty="(no workflows)"))
    if total > offset + len(found):
        click.echo(f"({len(found)} of {total} shown; --offset {offset + len(found)} for more)")


@workflows.command()
@click.argument("workflow_id")
@json_option
@ops_command
def show(ops, workflow_id: str, as_json: bool) -> None:
    """A workflow's handler, context and every step with its status."""
    wf = _find(ops, workflow_id)
    if as_json:
        emit_json(wf)
        return
    click.echo(fields([("id", wf["id"]), ("handler", wf["full_name"]), ("status", wf["status"]),
                       ("queue", wf["queue"]), ("created", wf["created_at"]),
                       ("updated", wf["updated_at"]), ("context", wf["context"])]))
    click.echo("")
    click.echo(table(STEP_COLUMNS, [[s["name"], s["status"], s["attempts"], s["duration_ms"],
                                     s["started_at"], _last_line(s["error"])]
                                    for s in wf["steps"]], max_width=80))


@workflows.command()
@click.argument("workflow_id")
@click.option("--step", "steps", multiple=True, metavar="NAME",
              help="Cancel this step (repeatable); without it, every unfinished step.")
@click.option("--force", is_flag=True, help="End running steps now instead of asking their workers.")
@ops_command
def cancel(ops, workflow_id: str, steps: tuple[str, ...], force: bool) -> None:
    """Cancel steps of a workflow (the steps that need them end cancelled too)."""
    from taskq.workflows import StepNotFound, cancel_step
    from taskq.workflows.control import FINISHED

    wf = _find(ops, workflow_id)
    names = list(steps) or [s["name"] for s in wf["steps"] if s["status"] not in FINISHED]
    failed = 0
    for name in names:
        try:
            step = cancel_step(ops.redis, workflow_id, name, force=force, prefix=ops.prefix)
            click.echo(f"{name}: {step['status']}")
        except InvalidState as exc:
            if steps:  # asked for by name: say why not
                failed += 1
                click.echo(f"Error: {exc}", err=True)
            else:      # ended meanwhile (e.g. cancelled with a step it needs)
                click.echo(f"{name}: {exc.status}")
        except StepNotFound as exc:
            failed += 1
            click.echo(f"Error: {exc}", err=True)
    if failed:
        raise click.exceptions.Exit(1)
