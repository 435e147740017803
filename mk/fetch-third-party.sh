#!/bin/bash
# Fetches and unpacks Debian's source packages of libsecp256k1 and mbedtls into DIR, with a private
# apt state (sources list, lists, caches) under DIR/apt: the system's apt lists are not touched.
# Leaves DIR/secp256k1 and DIR/mbedtls as links to the unpacked trees.
# Usage: fetch-third-party.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: fetch-third-party.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt_dir=$dir/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/keys"

bash "$here/deb-src-list.sh" "$apt_dir/keys" > "$apt_dir/sources.list"
echo "third_party: deb-src entries derived from the system's apt sources:"
sed 's/^/  /' "$apt_dir/sources.list"

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists"
  # No binary caches written: the system's /var/cache/apt/*.bin stay as they are.
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o "Dir::Cache::Archives=$apt_dir/archives"
)
# As root apt downloads as user _apt, who cannot write into a root-owned build tree; say so once
# here instead of a warning per file (apt would fall back to the same thing).
if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi

apt-get -q "${apt_opts[@]}" update
# Take the same versions as the installed -dev packages, so the firmware's crypto is the code the
# host-native tests run against; fall back to the archive's current version if that one is gone.
want() { # source-package binary-package
  local v
  v=$(dpkg-query -W -f='${source:Version}' "$2" 2>/dev/null || true)
  echo "$1${v:+=$v}"
}
fetch() { # source-package binary-package link-name
  local spec
  spec=$(want "$1" "$2")
  rm -rf "$dir/$3" "$dir/$1"-[0-9]*/
  (cd "$dir" && { apt-get -q "${apt_opts[@]}" source "$spec" || apt-get -q "${apt_opts[@]}" source "$1"; })
  local tree
  tree=$(cd "$dir" && ls -d "$1"-[0-9]*/ | head -n1)
  [ -n "$tree" ] || { echo "third_party: $1 did not unpack" >&2; exit 1; }
  ln -sfn "${tree%/}" "$dir/$3"
  echo "third_party: $3 -> ${tree%/}"
}
fetch libsecp256k1 libsecp256k1-dev secp256k1
fetch mbedtls libmbedtls-dev mbedtls
