"""Output of the operator commands: plain-text tables for people, JSON for
scripts (ISO 8601 UTC times, field names that stay put)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Sequence

import click

from ..isotime import iso


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_plain, sort_keys=True))


def cell(value: Any) -> str:
    """A value as a table cell: times shortened, lists joined, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)[:19].replace("T", " ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=_plain)
    return str(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)",
          max_width: int = 60) -> str:
    """Left-aligned columns under an upper-case header; long cells cut with '…'."""
    text = [[cell(v) for v in row] for row in rows]
    if not text:
        return empty
    text = [[c if len(c) <= max_width else c[:max_width - 1] + "…" for c in row]
            for row in text]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(columns)]
    lines = [[h.upper() for h in columns]] + text
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """``name: value`` lines, names aligned."""
    pairs = list(pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in pairs)
