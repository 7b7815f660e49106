#!/usr/bin/env bash
# System tools the test suite uses, installed when missing and we are root:
# promtool (Debian package "prometheus") checks the /metrics output, and Debian's
# Chromium runs the admin browser test. Without root or apt-get we say what is
# missing and go on: the promtool tests then fail naming it, the browser test skips.
set -uo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Test tools missing: ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "Installing test tools: ${missing[*]}"
apt-get update -qq
for package in "${missing[@]}"; do
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
    || echo "Could not install $package" >&2
done
exit 0
