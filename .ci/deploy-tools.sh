#!/usr/bin/env bash
# Installs the tools that tests/deploy needs and that no Python package ships:
# promtool, from Debian's `prometheus` package. Idempotent and quiet; run as root
# (CI runs as root) or through sudo.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-install-recommends: promtool is all we need, not the server's recommends.
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "deploy-tools: installing Debian's prometheus (for promtool) failed" >&2
    exit 1
fi
# Debian's package starts and enables the server where systemd runs; CI needs only
# the binary, so stop it if it was started (harmless when it was not).
$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true

command -v promtool >/dev/null 2>&1 || {
    echo "deploy-tools: promtool still missing after installing Debian's prometheus" >&2
    exit 1
}
