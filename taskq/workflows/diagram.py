"""A workflow as a task diagram: the Tasker document's JSON shape (nodes,
edges, direction, title) and the Mermaid flowchart text of the same graph.

Step names are user data (a hostile or hand-edited record may hold any
text), so the Mermaid text carries none of them raw: node ids are ``s<i>``,
labels are quoted with every character other than ASCII letters, digits and
spaces written as a Mermaid entity code (``#60;``), and link URLs are
percent-encoded. Nothing in it can end a label, start a directive, or reach
the page as markup.
"""

from __future__ import annotations

import re
from urllib.parse import quote

STATUS_COLOURS = {
    "pending": "#D3D3D3",      # light grey: not started
    "in_progress": "#FFE4B5",  # moccasin, as the Tasker document shows
    "complete": "#90EE90",     # light green, as the Tasker document shows
    "error": "#F08080",        # light coral: failed
    "cancelled": "#DDA0DD",    # plum: cancelled, or stopped because a step it needs failed
    "skipped": "#ADD8E6",      # light blue: a skippable step that did not complete
}
"""Fill colour of a step's node by its status (taskq.workflows.STEP_STATUSES)."""
UNKNOWN_COLOUR = "#FFFFFF"
"""Fill of a node whose status is none of the above (never from the engine)."""
FINISHED = ("complete", "error", "cancelled")
"""Workflow statuses after which a diagram no longer changes."""

_WORD_SPLIT = re.compile(r"[_\-\s]+")
_PLAIN = re.compile(r"[A-Za-z0-9 ]")


def step_label(name: str) -> str:
    """``validate_payment`` -> ``Validate Payment`` (the name itself when it
    has no words, so no node is left without a label)."""
    words = [w[:1].upper() + w[1:] for w in _WORD_SPLIT.split(name) if w]
    return " ".join(words) or name


def step_url(prefix: str, task_id: str, step: str) -> str:
    """Where the step's own resource is (GET .../workflow_steps/<step>)."""
    return f"{_pct(prefix.rstrip('/'), '/')}/tasks/{_pct(task_id)}/workflow_steps/{_pct(step)}"


def _pct(text: str, safe: str = "") -> str:
    # surrogatepass: a lone surrogate in stored text is encoded, not an error
    return quote(text, safe=safe, errors="surrogatepass")


def task_diagram(workflow: dict, prefix: str = "/tasker") -> dict:
    """The Tasker document's diagram of a workflow (taskq.workflows.get's
    dict); ``prefix`` is where the Tasker routes are mounted."""
    wid = workflow["id"]
    nodes = [{
        "id": s["name"], "label": step_label(s["name"]), "shape": "rectangle",
        "style": f"fill:{STATUS_COLOURS.get(s['status'], UNKNOWN_COLOUR)}",
        "url": step_url(prefix, wid, s["name"]),
        "attributes": {"status": s["status"], "duration_ms": s["duration_ms"]},
    } for s in workflow["steps"]]
    edges = [{"source_id": dep, "target_id": s["name"], "label": "depends_on",
              "type": "dependency", "direction": "forward", "attributes": {}}
             for s in workflow["steps"] for dep in s["depends_on"]]
    return {"nodes": nodes, "edges": edges, "direction": "TD", "title": workflow["full_name"],
            "attributes": {"task_id": wid, "status": workflow["status"]}}


def mermaid_text(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label: entity codes for all but
    ASCII letters, digits and spaces (a quote, ``#``, ``<``, a newline,
    a backtick that would start Markdown, any non-ASCII character)."""
    return "".join(c if _PLAIN.match(c) else f"#{ord(c)};" for c in text) or " "


def _link(url: str) -> str:
    """A URL safe inside a quoted Mermaid click target (step_url's are
    already; anything else is percent-encoded, existing escapes kept)."""
    return _pct(url, "/%._-~:?=&")


def _class_name(status: str) -> str:
    return f"status_{status}"


def mermaid(diagram: dict) -> str:
    """The Mermaid flowchart of ``task_diagram``'s result: one node per
    step, one arrow per dependency, a class per status coloured as
    STATUS_COLOURS, and a click link from each node to its step."""
    ids = {n["id"]: f"s{i}" for i, n in enumerate(diagram["nodes"])}
    lines = [f"flowchart {'LR' if diagram.get('direction') == 'LR' else 'TD'}"]
    for n in diagram["nodes"]:
        lines.append(f'    {ids[n["id"]]}["{mermaid_text(n["label"])}"]')
    for e in diagram["edges"]:
        if e["source_id"] in ids and e["target_id"] in ids:
            lines.append(f"    {ids[e['source_id']]} --> {ids[e['target_id']]}")
    for status, colour in STATUS_COLOURS.items():
        lines.append(f"    classDef {_class_name(status)} fill:{colour},stroke:#555555,color:#000000")
    for n in diagram["nodes"]:
        status = n["attributes"]["status"]
        if status in STATUS_COLOURS:
            lines.append(f"    class {ids[n['id']]} {_class_name(status)}")
    for n in diagram["nodes"]:
        lines.append(f'    click {ids[n["id"]]} href "{_link(n["url"])}"')
    return "\n".join(lines) + "\n"
