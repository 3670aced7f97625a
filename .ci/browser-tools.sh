#!/usr/bin/env bash
# Installs what the console's browser tests need and no Python package ships, from Debian:
# chromium and chromium-driver (Playwright from PyPI drives /usr/bin/chromium: browsers
# cannot be downloaded here, so never `playwright install`) and fonts-noto-cjk, so that
# Chinese text renders in the screenshots instead of boxes. Idempotent and quiet; run as
# root (CI runs as root) or through sudo.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# The font package ships no command: ask dpkg whether it is installed.
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" ||
    missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
install() {
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1
}
# Refresh the package lists only when the install cannot proceed without them (a fresh
# image has none): an update costs more than the install.
if ! install; then
    if ! { $SUDO apt-get update -qq && install; } >>"$log" 2>&1; then
        cat "$log" >&2
        echo "browser-tools: installing Debian's ${missing[*]} failed" >&2
        exit 1
    fi
fi

for binary in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$binary" ] || {
        echo "browser-tools: $binary still missing after installing ${missing[*]}" >&2
        exit 1
    }
done
