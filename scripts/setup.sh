#!/usr/bin/env bash
# Create .venv at the repo root and install the locked dependency set into it (idempotent:
# a second run with unchanged locks does nothing). `scripts/setup.sh dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=requirements.lock
[ "${1:-}" = "dev" ] && lock=requirements-dev.lock

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: corpactions needs Python 3.11 or newer (found: ${python:-none}); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)" >&2
  "$python" -m venv .venv
fi
quiet_pip() {
  # pip complains about configured find-links folders that do not exist on this machine; that one
  # warning is noise here, every other message still reaches the terminal.
  .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

stamp=".venv/.installed-$(cat "$lock" pyproject.toml | sha256sum | cut -c1-16)-${lock%.lock}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing $lock into .venv (first run takes a minute)" >&2
  quiet_pip install --quiet --disable-pip-version-check -r "$lock"
  quiet_pip install --quiet --disable-pip-version-check --no-deps -e .
  rm -f .venv/.installed-*-"${lock%.lock}"
  touch "$stamp"
fi

# The holder page's browser test drives Debian's Chromium (headless); the test tools need it.
if [ "${1:-}" = "dev" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser test (apt-get)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser test needs /usr/bin/chromium: run 'sudo apt-get install chromium'" >&2
    exit 2
  fi
fi
