#!/usr/bin/env bash
# Build the Windows agent's installer with msitools' wixl (Debian: `apt-get install wixl msitools`):
#   scripts/build-agent-msi.sh [--wheel dist/otwatch-X-py3-none-any.whl] [--out dist]
# -> <out>/OTWatch-OT-Agent-<version>.msi. Without --wheel the wheel is built with `pip wheel --no-deps`.
# The MSI installs the wheel and packaging/windows/otwatch-agent.py and takes the seed's msiexec
# properties (see packaging/windows/otwatch-agent.wxs and docs/deployment.md, "Windows agent").
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
wheel=""
out="$here/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--wheel WHEEL] [--out DIR]" >&2; exit 2 ;;
  esac
done
for tool in wixl msibuild msiinfo; do
  command -v "$tool" >/dev/null || { echo "build-agent-msi: $tool is missing (apt-get install wixl msitools)" >&2; exit 3; }
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
if [ -z "$wheel" ]; then
  # from a copy of the sources: pip builds in the tree and would leave build/ and *.egg-info behind
  mkdir "$stage/source"
  cp "$here/pyproject.toml" "$here/README.md" "$stage/source/"
  (cd "$here" && tar --exclude=__pycache__ --exclude='*.egg-info' -cf - src) | tar -xf - -C "$stage/source"
  "$python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$stage/wheel" "$stage/source"
  wheel="$(ls "$stage"/wheel/otwatch-*.whl)"
fi
version="$(basename "$wheel" | cut -d- -f2)"
cp "$wheel" "$stage/"
cp "$here/packaging/windows/otwatch-agent.py" "$stage/"
mkdir -p "$out"
msi="$out/OTWatch-OT-Agent-$version.msi"
(cd "$stage" && wixl -a x64 -D "Version=$version" -D "Wheel=$(basename "$wheel")" \
  -o "$msi" "$here/packaging/windows/otwatch-agent.wxs")
# wixl fills SecureCustomProperties from the Upgrade table only; the seed's properties must be
# secure too, or msiexec drops them on the way to the elevated (server-side) install.
secure="PAIRING_KEY;ICP_ADDRESS;ICP_USERNAME;ICP_PASSWORD;ICP_APIKEY;ICP_FINGERPRINT;INSTALLBASE;PYTHON;PIP_OPTIONS;OLDERAGENTFOUND;NEWERAGENTFOUND"
msibuild "$msi" -q "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'"
# wixl ignores HideTarget: msi-configure's command line holds PAIRING_KEY, ICP_PASSWORD and ICP_APIKEY,
# and a verbose log records each deferred action's target unless msidbCustomActionTypeHideTarget is set.
type="$(msiinfo export "$msi" CustomAction | awk -F'\t' '$1 == "Configure" { print $2 }')"
[ -n "$type" ] || { echo "build-agent-msi: no Configure custom action" >&2; exit 4; }
msibuild "$msi" -q "UPDATE \`CustomAction\` SET \`Type\` = $((type | 0x2000)) WHERE \`Action\` = 'Configure'"
echo "$msi"
