"""The HTML page of a task diagram: title, status, colour legend and the
Mermaid source, drawn in the browser by the Mermaid build taskq serves
itself (static/). Pure: the route hands in the URLs.

Every user-controlled text is escaped by the template engine (autoescape on,
undefined names an error); the Mermaid source is already free of markup
(taskq.workflows.diagram). The page's Content-Security-Policy lets scripts
come from this server only; styles also inline, because Mermaid writes a
<style> element and style attributes into the SVG it draws.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from taskq.workflows.diagram import FINISHED, STATUS_COLOURS

REFRESH_SECONDS = 3
"""How often the page reloads itself while the task is not finished."""
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self'; font-src 'self'; connect-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
"""Content-Security-Policy of the page (no eval, no inline script, no other host)."""

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=True, undefined=StrictUndefined)


def render(diagram: dict, source: str, urls: dict[str, str | None]) -> bytes:
    """The page as UTF-8 bytes (a lone surrogate in stored text becomes '?'
    rather than an error). ``urls``: mermaid (None: not fetched, the page
    shows the source instead), script (diagram.js), icon, json (the same
    diagram as JSON)."""
    status = diagram["attributes"]["status"]
    html = _templates.get_template("task_diagram.html").render(
        title=diagram["title"], task_id=diagram["attributes"]["task_id"], status=status,
        status_class=status if status in STATUS_COLOURS else "unknown",
        refresh_seconds=0 if status in FINISHED else REFRESH_SECONDS,
        legend=[{"status": s, "colour": c} for s, c in STATUS_COLOURS.items()],
        source=source, urls=urls)
    return html.encode("utf-8", errors="replace")
