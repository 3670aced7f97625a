#!/usr/bin/env bash
# Installs the tools that tests/deploy needs and that no Python package ships, all from
# Debian: prometheus (the server and promtool: the rules' unit tests and the test that
# scrapes a running hub), buildah and debootstrap (the image test builds the Dockerfile from
# a debootstrap base). Idempotent and quiet; run as root (CI runs as root) or through sudo.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ] || missing+=(prometheus)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-install-recommends: the binaries are all we need, not the recommends.
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "deploy-tools: installing Debian's ${missing[*]} failed" >&2
    exit 1
fi
# Debian's package starts and enables the Prometheus server where systemd runs; the tests
# start their own, so stop it if it was started (harmless when it was not).
$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true

for tool in promtool prometheus buildah debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "deploy-tools: $tool still missing after installing ${missing[*]}" >&2
        exit 1
    }
done
