#!/usr/bin/env bash
# Install the Debian packages the test suite needs (real container hosts, PostgreSQL,
# Prometheus/Alertmanager, a JRE for ansible-rulebook, Chromium to look at the
# HTML report). Installs only what is missing, so a second run costs a dpkg query.
set -euo pipefail
packages=(podman runc debootstrap prometheus prometheus-alertmanager openjdk-17-jre-headless git chromium fonts-liberation postgresql)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
