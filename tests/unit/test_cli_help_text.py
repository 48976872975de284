"""``taskq --help`` and every subcommand's help read as plain text: click
prints docstrings as they are, so reStructuredText markup written for the
code's readers (double backticks, :func: roles) would reach the terminal."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from taskq.cli import main

MARKUP = re.compile(r"``|:(?:func|class|meth|mod|attr|data|exc):`")


def all_commands():
    """(path, command, context) for ``taskq`` and every command under it,
    the layers' entry-point commands included."""
    found = []

    def walk(cmd, ctx, path):
        found.append((path, cmd, ctx))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}")

    walk(main, click.Context(main, info_name="taskq"), "taskq")
    return found


COMMANDS = all_commands()


def test_the_layers_commands_are_walked():
    paths = {path for path, _, _ in COMMANDS}
    assert {"taskq start", "taskq worker", "taskq auth token", "taskq migrate",
            "taskq handlers list"} <= paths


@pytest.mark.parametrize("path,cmd,ctx", COMMANDS, ids=[p for p, _, _ in COMMANDS])
def test_help_has_no_markup(path, cmd, ctx):
    text = cmd.get_help(ctx)
    assert not MARKUP.search(text), f"{path} --help:\n{text}"


def test_top_level_help_as_printed():
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Commands:" in result.output and "worker" in result.output
    assert not MARKUP.search(result.output), result.output
