#!/bin/bash
# Prints a one-line-format apt sources list with a `deb-src` entry for every Debian archive the
# system's apt is configured with (sources.list and sources.list.d/*.list one-line entries, and
# sources.list.d/*.sources deb822 stanzas). Nothing is hard-coded: URIs, suites, components and keys
# come from the system's files. Repositories that are not Debian archives (vendor repositories
# usually publish no sources) are skipped with a note on stderr.
# Usage: deb-src-list.sh KEYDIR   (KEYDIR receives keys embedded in deb822 Signed-By fields)
set -euo pipefail
keydir=${1:?usage: deb-src-list.sh KEYDIR}
mkdir -p "$keydir"
keydir=$(cd "$keydir" && pwd)

main_list=/etc/apt/sources.list
parts_dir=/etc/apt/sources.list.d
if command -v apt-config >/dev/null 2>&1; then
  eval "$(apt-config shell main_list Dir::Etc::sourcelist/f parts_dir Dir::Etc::sourceparts/d)"
fi
parts_dir=${parts_dir%/}

files=()
[ -f "$main_list" ] && files+=("$main_list")
for f in "$parts_dir"/*.list "$parts_dir"/*.sources; do
  [ -f "$f" ] && files+=("$f")
done

# A Debian archive: signed by Debian's archive keyring, or served from a .../debian,
# .../debian-security or .../debian-ports path (mirrors and snapshot.debian.org alike).
is_debian() { # uri signed_by
  case "$2" in *debian-archive-keyring*|*debian-ports-archive-keyring*) return 0 ;; esac
  [[ "$1" =~ ^[a-z+]+://[^/]+(/.*)?/debian(-security|-ports)?(/|$) ]]
}

emit() { # options uri suite components...
  local opts=$1 uri=$2 suite=$3; shift 3
  case "$suite" in *-debug) return 0 ;; esac   # debug-symbol archives carry no sources
  printf 'deb-src %s%s %s %s\n' "${opts:+[$opts] }" "$uri" "$suite" "$*"
}

out=()
skip() { echo "deb-src-list: skipping $1 (not a Debian archive)" >&2; }

for f in "${files[@]}"; do
  case "$f" in
  *.sources)
    # deb822: stanzas split by blank lines, '#' comments, continuation lines start with blank.
    # Flatten each stanza into "Field<TAB>value" lines (continuations joined with \n) then parse.
    stanza_no=0
    while IFS= read -r -d $'\x1e' stanza; do
      stanza_no=$((stanza_no + 1))
      declare -A fld=()
      while IFS=$'\t' read -r name value; do
        [ -n "$name" ] && fld[$name]=$value
      done <<<"$stanza"
      [ "${fld[enabled]:-yes}" = no ] && { unset fld; continue; }
      [[ " ${fld[types]:-} " == *" deb "* || " ${fld[types]:-} " == *" deb-src "* ]] \
        || { unset fld; continue; }
      opts=()
      signed_by=${fld[signed-by]:-}
      if [[ "$signed_by" == *"BEGIN PGP PUBLIC KEY BLOCK"* ]]; then
        key="$keydir/$(basename "$f" .sources)-$stanza_no.asc"
        printf '%b\n' "$signed_by" | sed '/./,$!d; s/^\.$//' > "$key"
        opts+=("signed-by=$key")
      elif [ -n "$signed_by" ]; then
        opts+=("signed-by=$(echo $signed_by | tr ' ' ',')")
      fi
      for name in "${!fld[@]}"; do
        case "$name" in
          types|uris|suites|components|enabled|signed-by|architectures|languages|targets) ;;
          *) opts+=("$name=$(echo ${fld[$name]} | tr ' ' ',')") ;;
        esac
      done
      for uri in ${fld[uris]:-}; do
        if ! is_debian "$uri" "$signed_by"; then skip "$uri"; continue; fi
        for suite in ${fld[suites]:-}; do
          if [[ "$suite" == */ ]]; then
            out+=("$(emit "${opts[*]:-}" "$uri" "$suite")")
          else
            out+=("$(emit "${opts[*]:-}" "$uri" "$suite" ${fld[components]:-})")
          fi
        done
      done
      unset fld
    done < <(awk '
      function flush() { if (n) { printf "%s\x1e", buf; } buf = ""; n = 0; cur = "" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ {                      # continuation of the previous field
        line = $0; sub(/^[ \t]+/, "", line)
        buf = buf "\\n" line; next
      }
      {
        i = index($0, ":"); if (!i) next
        name = tolower(substr($0, 1, i - 1)); value = substr($0, i + 1)
        sub(/^[ \t]+/, "", value); sub(/[ \t]+$/, "", value)
        buf = buf (n ? "\n" : "") name "\t" value; n++
      }
      END { flush() }' "$f")
    ;;
  *)
    while read -r line; do
      line=${line%%#*}
      [[ "$line" =~ ^(deb|deb-src)[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+)(.*)$ ]] \
        || continue
      opts=${BASH_REMATCH[2]}; uri=${BASH_REMATCH[3]}; suite=${BASH_REMATCH[4]}; comps=${BASH_REMATCH[5]}
      opts=$(echo "$opts" | sed 's/^\[ *//; s/ *\] *$//')
      signed_by=$(echo "$opts" | grep -o 'signed-by=[^ ]*' || true)
      if ! is_debian "$uri" "$signed_by"; then skip "$uri"; continue; fi
      out+=("$(emit "$opts" "$uri" "$suite" $comps)")
    done <"$f"
    ;;
  esac
done

if [ ${#out[@]} -eq 0 ]; then
  echo "deb-src-list: no Debian archive found in ${files[*]:-(no apt sources files)}" >&2
  exit 1
fi
printf '%s\n' "${out[@]}" | awk 'NF && !seen[$0]++'
