#!/bin/bash
# The docs' commands against the programs (issue 11, "docs that work as written"): every command
# line inside a fenced block of README.md and docs/*.md that runs oncesignd, oncesign, oncesign-sim
# or oncesign-testnode (bare or as build/...) is checked against that program's --help: the
# program's commands (`oncesign device xpub`) and every --option it uses must exist there. Every
# `name = value` line of a fenced oncesignd config must be a setting `oncesignd --help` lists. A doc
# that shows a flag the program does not have fails here. Needs $ONCESIGN_BUILD; runs in a second.
set -uo pipefail
B=${ONCESIGN_BUILD:?set ONCESIGN_BUILD to the build directory}
dir=$(mktemp -d /tmp/oncesign-docs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for p in oncesignd oncesign oncesign-sim oncesign-testnode; do
  [ -x "$B/$p" ] || { echo "FAIL: $B/$p not built" >&2; exit 1; }
  "$B/$p" --help >"$dir/$p.help" 2>&1 || { echo "FAIL: $p --help" >&2; exit 1; }
done
# settings of oncesignd, without dashes
sed -n '/^settings/,$s/^  --\([a-z-]*\) .*/\1/p' "$dir/oncesignd.help" >"$dir/settings"

# Fenced lines, continuation lines joined, as "FILE:LINE: text".
for f in README.md docs/*.md; do
  awk -v F="$f" '
    /^[ \t]*```/ { inb = !inb; cont = ""; next }
    !inb { next }
    { line = $0
      if (cont != "") { text = text " " line } else { text = line; start = NR }
      if (line ~ /\\$/) { sub(/\\$/, "", text); cont = 1; next }
      cont = ""; print F ":" start ": " text }' "$f"
done >"$dir/lines"
# The check must be able to fail: two planted lines (an option and a command nobody has) must be
# the only complaints besides the docs' own.
echo "planted:1: build/oncesign device xpub --no-such-option" >>"$dir/lines"
echo "planted:2: oncesign frobnicate now" >>"$dir/lines"

bad=0 checked=0
complain() {
  echo "$1: $2" >>"$dir/complaints"
  case $1 in planted:*) ;; *) echo "FAIL: $1: $2" >&2 ;; esac
  bad=$((bad + 1))
}
: >"$dir/complaints"
while IFS= read -r entry; do
  where=${entry%%: *}; text=${entry#*: }
  text=${text%%#*}                                    # shell comment
  # the program word: first word, or after "sudo", "env X=Y", "timeout N", "$(" ...
  read -r -a words <<<"$text"
  for ((k = 0; k < ${#words[@]}; k++)); do
    w=${words[k]}; prog=${w##*/}
    case $prog in oncesignd|oncesign|oncesign-sim|oncesign-testnode) ;; *) continue ;; esac
    # a program only where a command starts (not "usermod -aG oncesign", a group name)
    if [ $k -gt 0 ]; then
      prev=${words[k-1]}
      case $prev in sudo|exec|nohup|'&&'|'||'|'|'|';'|'$('|'('|*=*) ;; *) [[ $prev =~ ^[0-9]+$ ]] || continue ;; esac
    fi
    case $w in */*) case $w in build/*|*/bin/*) ;; *) continue ;; esac ;; esac
    checked=$((checked + 1))
    help="$dir/$prog.help"
    for ((j = k + 1; j < ${#words[@]}; j++)); do
      a=${words[j]}
      case $a in '|'|'&&'|'||'|';'|'&'|'>'*|'<'*|'2>'*) break ;; esac
      a=${a#[}; a=${a#[}; a=${a#(}                          # "[--device" in a synopsis
      case $a in
        --*) opt=${a%%=*}; opt=${opt//[\[\]\(\)\`\"\']/}
             [ "$opt" = "--" ] && continue
             grep -q -- "$opt\b" "$help" || complain "$where" "$prog has no option $opt (${text:0:80})" ;;
      esac
    done
    # oncesign's command words: the first two non-option words must appear together in its help
    if [ "$prog" = oncesign ]; then
      cmd=()
      for ((j = k + 1; j < ${#words[@]} && ${#cmd[@]} < 2; j++)); do
        a=${words[j]}
        case $a in --device|--timeout) j=$((j + 1)); continue ;; --*) continue ;; '<'*|'['*|'…'*|'|'|'&'|'>'*) break ;; esac
        [[ $a =~ ^[a-z][a-z-]*$ ]] || break
        cmd+=("$a")
      done
      if [ ${#cmd[@]} -gt 0 ]; then
        grep -q "^  ${cmd[*]}\b" "$help" || grep -q "^  ${cmd[0]}\b" "$help" \
          || complain "$where" "oncesign has no command '${cmd[*]}'"
      fi
    fi
    break
  done
done <"$dir/lines"

# oncesignd config blocks: a fenced block holding "name = value" lines with a setting-like name
setting_re='^([a-z][a-z-]+) = '
while IFS= read -r entry; do
  where=${entry%%: *}; text=${entry#*: }
  [[ $text =~ $setting_re ]] || continue
  name=${BASH_REMATCH[1]}
  case $where in docs/MONACOIND.md:*) continue ;; esac     # monacoin.conf, not ours
  grep -qx "$name" "$dir/settings" || complain "$where" "oncesignd has no setting '$name'"
  checked=$((checked + 1))
done <"$dir/lines"

[ $checked -ge 25 ] || { echo "FAIL: only $checked commands found in the docs (is the extraction broken?)" >&2; exit 1; }
[ "$(grep -c '^planted' "$dir/complaints")" = 2 ] || { echo "FAIL: the planted bad commands were not caught" >&2; exit 1; }
bad=$((bad - 2)); checked=$((checked - 2))
[ $bad -eq 0 ] || { echo "test_docs_commands: $bad problem(s) in $checked commands" >&2; exit 1; }
echo "ok - $checked commands and settings shown in the docs exist in the programs' --help"
