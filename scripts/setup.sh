#!/usr/bin/env bash
# Installs what Arrowhead needs from Debian/Ubuntu packages: OpenBLAS, LAPACKE, pkg-config.
# Idempotent: does nothing when they are already present. Swift itself must be on PATH.
set -euo pipefail

need_install=0
pkg-config --exists openblas 2>/dev/null || need_install=1
[ -f /usr/include/lapacke.h ] || need_install=1
command -v pkg-config >/dev/null 2>&1 || need_install=1

if [ "$need_install" = 1 ]; then
  echo "setup: installing libopenblas-dev liblapacke-dev pkg-config" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libopenblas-dev liblapacke-dev pkg-config >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    if [ -x "$candidate/swift" ]; then export PATH="$candidate:$PATH"; fi
  done
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH" >&2; exit 1; }
echo "setup: $(swift --version 2>&1 | head -n 1); OpenBLAS $(pkg-config --modversion openblas)" >&2
