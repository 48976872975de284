"""``/metrics`` (and ``/tasker/metrics``, same body) says its charset once:
``text/plain; version=1.0.0; charset=utf-8``. prometheus_client's
CONTENT_TYPE_LATEST carries the charset already, and Flask's ``mimetype=``
appends another to any text/ type; ``content_type=`` takes it as it is.
"""

from __future__ import annotations

import pytest
from apihelpers import bearer
from prometheus_client import CONTENT_TYPE_LATEST


@pytest.mark.parametrize("path", ["/metrics", "/tasker/metrics"])
def test_metrics_content_type_has_one_charset(client, path):
    resp = client.get(path, headers=bearer("admin"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].lower().count("charset") == 1, resp.headers["Content-Type"]
    assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
