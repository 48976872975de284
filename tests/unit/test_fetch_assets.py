"""scripts/fetch_assets.py: the Mermaid build is written only when it is
the pinned one, a failed fetch says why in one line and writes nothing, and
a file already in place is not fetched again."""
import hashlib
import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_assets.py"


@pytest.fixture
def fetcher(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("fetch_assets_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "TARGET", tmp_path / "mermaid.min.js")
    return mod


def tarball(content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/dist/mermaid.min.js")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


class Reply(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def serve(monkeypatch, fetcher, body: bytes, seen: list):
    def urlopen(url, timeout):
        seen.append(url)
        return Reply(body)
    monkeypatch.setattr(fetcher.urllib.request, "urlopen", urlopen)


def test_the_pinned_build_is_written(fetcher, monkeypatch):
    content = b"/* a build */"
    monkeypatch.setattr(fetcher, "MERMAID_SHA256", hashlib.sha256(content).hexdigest())
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/mirror/")
    seen = []
    serve(monkeypatch, fetcher, tarball(content), seen)
    assert fetcher.main() == 0
    assert fetcher.TARGET.read_bytes() == content
    assert seen == [f"http://127.0.0.1:9/mirror/mermaid/-/mermaid-{fetcher.MERMAID_VERSION}.tgz"]
    assert fetcher.main() == 0 and len(seen) == 1  # in place: not fetched again


def test_another_build_is_refused(fetcher, monkeypatch, capsys):
    serve(monkeypatch, fetcher, tarball(b"/* not the pinned one */"), [])
    assert fetcher.main() == 1
    assert not fetcher.TARGET.exists() and not fetcher.TARGET.with_suffix(".part").exists()
    err = capsys.readouterr().err
    assert "not the pinned build" in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_registry_or_a_bad_archive_is_one_line(fetcher, monkeypatch, capsys):
    def down(url, timeout):
        raise OSError("connection refused")
    monkeypatch.setattr(fetcher.urllib.request, "urlopen", down)
    assert fetcher.main() == 1
    serve(monkeypatch, fetcher, b"not a tarball", [])
    assert fetcher.main() == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("shown as text" in line for line in lines)
    assert not fetcher.TARGET.exists()
