#!/usr/bin/env bash
# The browser the browser tests (tests/browser/) drive: prints the path of a
# Chromium, installing Debian's `chromium` package first when none is found
# and this is root on a machine with apt-get. Exits 1 (printing nothing on
# stdout) when no browser can be had; the browser tests then skip.
#   TASKQ_TEST_CHROMIUM=/path/to/chromium   use that one
#   TASKQ_NO_BROWSER_INSTALL=1              never install
set -uo pipefail

find_chromium() {
    local cand
    for cand in "${TASKQ_TEST_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser \
        "$(command -v chromium 2>/dev/null)" "$(command -v chromium-browser 2>/dev/null)"; do
        if [ -n "$cand" ] && [ -x "$cand" ]; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

if find_chromium; then
    exit 0
fi
if [ -n "${TASKQ_NO_BROWSER_INSTALL:-}" ] || [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "taskq: no Chromium found and cannot install one (needs root and apt-get)" >&2
    exit 1
fi
echo "taskq: installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >&2; then
    echo "taskq: installing chromium failed" >&2
    exit 1
fi
find_chromium
