"""What the DTS routes work with at run time: the dialect's parsed settings,
kept in the app's dialect registry."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

NAME = "dts"
SETTINGS = {"TASKQ_DTS_QUEUE": "dts"}
"""The engine queue holding DTS tasks (environment, or create_app's config)."""


@dataclass(frozen=True)
class DtsState:
    queue: str


def make_state(app: Flask, app_state) -> DtsState:
    return DtsState(str(app.config["TASKQ_DTS_QUEUE"]))


def state() -> DtsState:
    return current_app.extensions["taskq.dialects"][NAME]
