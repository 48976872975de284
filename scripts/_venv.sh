# Sourced by scripts/test and scripts/run: one place that creates the
# project's .venv and keeps it installed, so both commands work on a fresh
# clone with nothing but a Python 3.11+ interpreter on the machine.
#
# After sourcing, call `taskq_venv`; it leaves the interpreter in $TASKQ_PY.
# Reinstalling is skipped while .venv/.taskq-installed holds the sha256 of
# the current pyproject.toml (delete the stamp to force a reinstall).

taskq_pick_python() {
    # Prefer python3.11 (the project's baseline), then any newer python3.
    local cand
    for cand in python3.11 python3.12 python3.13 python3.14 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    echo "taskq: need Python 3.11 or newer (python3.11 or python3 on PATH)" >&2
    return 1
}

taskq_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

taskq_venv() {
    local venv=.venv stamp=.venv/.taskq-installed want py
    if [ ! -x "$venv/bin/python" ]; then
        py=$(taskq_pick_python) || return 1
        echo "taskq: creating $venv with $py" >&2
        # --clear repairs a half-made or stale .venv whose python is gone.
        "$py" -m venv --clear "$venv" || return 1
    fi
    want=$(taskq_sha256 pyproject.toml) || return 1
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "taskq: installing the project into $venv (pip install -e '.[test]')" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e '.[test]' || return 1
        # rq-exporter's tests (tests/integration/test_rq_tools.py): every 3.x
        # release pins redis<6 yet runs on the redis-py taskq uses, so it
        # comes without its dependencies (all of them are installed above)
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
            rq-exporter==3.1.0 || return 1
        echo "$want" >"$stamp"
    fi
    # the task diagram page's Mermaid build (not in git); without it the
    # diagrams are shown as text, so a failed fetch stops nothing
    "$venv/bin/python" scripts/fetch_assets.py || true
    TASKQ_PY="$PWD/$venv/bin/python"
}
