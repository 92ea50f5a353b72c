#!/usr/bin/env bash
# Installs the Debian packages chatd needs for one purpose — build, test or
# bench — when any is missing. As root it runs apt-get; otherwise it names the
# command to run. Quick when everything is already there (dpkg-query only).
set -euo pipefail

purpose=${1:-build}
build=(build-essential pkg-config libuv1-dev libhttp-parser-dev libjansson-dev libcjson-dev libsqlite3-dev
       nettle-dev libpq-dev libhiredis-dev zlib1g-dev)
test=(python3 python3-websockets python3-pytest curl postgresql postgresql-client redis-server)
bench=(gnuplot-nox)
# Node.js for the seed peer: Debian's packages only where no node/npm is
# installed already (a machine may carry a newer Node.js with its own npm,
# which Debian's npm package would conflict with).
command -v node >/dev/null 2>&1 || bench+=(nodejs)
command -v npm >/dev/null 2>&1 || bench+=(npm)

case "$purpose" in
  build) wanted=("${build[@]}") ;;
  test)  wanted=("${build[@]}" "${test[@]}") ;;
  bench) wanted=("${build[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "chatd needs these Debian packages: ${missing[*]}" >&2
  echo "run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
