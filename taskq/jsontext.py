"""How deep a JSON text nests, measured without recursion.

Python's json (and Lua's cjson) recurse once per level and give up near
1000 levels, so a too-deep value must be recognised from its text before
anything parses or encodes it. Counting brackets is C-speed; the full
measure runs only when the count says the limit could be passed.
"""

from __future__ import annotations

import re
from itertools import accumulate

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """How deep the JSON ``text`` nests (0 for a scalar, 1 for ``[]``), from
    the brackets outside its strings."""
    brackets = _BRACKET.findall("".join(_STRING.split(text)))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def deeper_than(text: str, limit: int) -> bool:
    """Whether ``text`` nests more than ``limit`` levels (cheap when it cannot)."""
    return text.count("[") + text.count("{") > limit and json_depth(text) > limit
