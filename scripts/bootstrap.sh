#!/usr/bin/env bash
# Installs everything Cove needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. system libraries that Qt (PySide6) loads, plus librsync-free build tools (python-rsync
#      bundles librsync 2.x in its wheel);
#   2. uv, the package manager that installs the locked Python dependencies;
#   3. .venv with exactly the versions and hashes in requirements.lock, and Cove itself (editable).
# Re-running it only does what is missing. Set COVE_SKIP_APT=1 to skip the system step.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  # Qt 6 offscreen and on X11/Wayland
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xkb1 libx11-xcb1 fonts-dejavu-core
  # desktop integration: opening folders and files from the app
  xdg-utils
)

if [ "${COVE_SKIP_APT:-0}" != 1 ] && command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "bootstrap: installing system packages: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PYTHON="${PYTHON:-python3}"
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv" >&2
  "$PYTHON" -m pip install -q --disable-pip-version-check uv || "$PYTHON" -m pip install -q --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi

stamp=.venv/.cove-lock-stamp
if [ ! -x .venv/bin/python ]; then
  uv venv -q --python "$PYTHON" .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  echo "bootstrap: installing locked Python dependencies" >&2
  uv pip sync -q --python .venv/bin/python --require-hashes requirements.lock
  uv pip install -q --python .venv/bin/python --no-deps -e .
  cp requirements.lock "$stamp"
fi
