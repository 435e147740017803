#!/bin/bash
# Installs the Debian packages named as arguments that are not installed yet.
# Runs `apt-get update` once, and only when something is missing; uses sudo only when not root.
set -euo pipefail

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all $# Debian packages installed"
  exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  # Without a terminal (CI) sudo must not wait for a password nobody can type.
  if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
else
  echo "deps: missing packages and not root, and sudo is not installed; as root run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"

# Fail here, not in a compiler error later, if a package did not end up installed.
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [ "$status" != installed ]; then echo "deps: $pkg still not installed" >&2; exit 1; fi
done
