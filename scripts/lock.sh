#!/usr/bin/env bash
# Regenerate the pinned dependency sets from pyproject.toml. Run after changing dependencies,
# then run scripts/setup.sh and the suite: the locks are what fresh machines install.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
if ! command -v "$UV" >/dev/null 2>&1; then
  python3 -m venv /tmp/corpactions-uv && /tmp/corpactions-uv/bin/pip install -q uv
  UV=/tmp/corpactions-uv/bin/uv
fi
"$UV" pip compile --quiet --python-version 3.11 pyproject.toml -o requirements.lock
"$UV" pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements-dev.lock
