#!/usr/bin/env bash
# Install the Debian packages the test suite and the benchmarks drive as real peers:
# PostgreSQL (the second database leg), Chromium (browser tests), tshark and nmap (cross-checks),
# slapd and ldap-utils (Active Directory sign-in against a real LDAP server), wixl and msitools
# (the Windows agent's MSI is built and inspected on Linux).
# Only what is missing is installed; without root or apt-get it says what is missing and goes on.
set -euo pipefail

need=()
have_pg() { command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_pg || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v nmap >/dev/null 2>&1 || need+=(nmap)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
{ command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; } || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
command -v wixl >/dev/null 2>&1 || need+=(wixl)
command -v msiinfo >/dev/null 2>&1 || need+=(msitools)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]} and cannot install them here (needs root and apt-get)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
