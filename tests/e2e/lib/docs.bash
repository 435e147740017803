# Sourced by e2e tests (not a test itself). The docs are run (issue 11): this file reads the fenced
# blocks of the Markdown pages and gives each shell block to whatever runs it. The rule it enforces:
#
#   - every fence names its language: ```sh (or bash, shell) for commands, ```text for output,
#     synopses and diagrams (no "$ " prompts there), or any other language (json, ini, nginx, c)
#     that is not shell; ```console (commands mixed with output) is refused;
#   - every shell block is preceded (blank lines aside) by exactly one tag line:
#       <!-- run: SCENARIO [name=NAME] -->   tests/e2e/test_docs_run.sh runs it in SCENARIO:
#                                            offline, device, daemon, webhook or install (that file says what
#                                            each one provides); NAME lets another test pick the
#                                            block out with docs_block;
#       <!-- run: tests/e2e/test_X.sh name=NAME -->   that test runs it (with docs_block FILE NAME)
#                                            where it can check what the block prints;
#       <!-- not-run: REASON -->             nobody runs it; test_docs_run.sh lists it with REASON;
#   - a tag before anything but a shell block is an error (a tag that lost its block).
#
# docs_parse OUTDIR FILE...: writes OUTDIR/blocks, one line (fields separated by \\037) per fenced block
#   ID FILE LINE LANG KIND ARG   (KIND: run, not-run or none; ARG: the tag's text after the colon;
#   LINE: the fence's line), and the block's text (indentation of the fence removed) in OUTDIR/block.ID;
#   a tag that is not followed by a fence gets a line with LANG "-" and KIND "dangling".
docs_parse() {
  local out=$1; shift
  : >"$out/blocks"
  awk -v OUT="$out" '
    function flush_tag() { if (tag != "") printf "0\037%s\037%d\037-\037dangling\037%s\n", tagfile, tagline, tag >> (OUT "/blocks"); tag = "" }
    FNR == 1 { flush_tag(); inb = 0 }
    inb && $0 ~ "^" indent "```[ \t]*$" { inb = 0; close(body); next }
    inb { line = $0; if (indent != "" && index(line, indent) == 1) line = substr(line, length(indent) + 1)
          print line >> body; next }
    /^[ \t]*```/ {
      inb = 1; n++
      indent = $0; sub(/```.*/, "", indent)
      lang = $0; sub(/^[ \t]*```/, "", lang); gsub(/[ \t]/, "", lang)
      kind = "none"; arg = ""
      if (tag ~ /^<!-- run:/)          { kind = "run";     arg = tag; sub(/^<!-- run: */, "", arg) }
      else if (tag ~ /^<!-- not-run:/) { kind = "not-run"; arg = tag; sub(/^<!-- not-run: */, "", arg) }
      sub(/ *-->[ \t]*$/, "", arg)
      printf "%d\037%s\037%d\037%s\037%s\037%s\n", n, FILENAME, FNR, lang, kind, arg >> (OUT "/blocks")
      body = OUT "/block." n; printf "" > body
      tag = ""; next
    }
    /^[ \t]*$/ { next }
    /^<!-- (not-)?run:/ { flush_tag(); tag = $0; tagfile = FILENAME; tagline = FNR; next }
    { flush_tag() }
    END { flush_tag() }
  ' "$@"
}

docs_is_shell() { case $1 in sh|bash|shell) return 0 ;; *) return 1 ;; esac; }

# docs_lint OUTDIR: prints "FILE:LINE: problem" for every block that breaks the rule above (and
# a run tag naming a test that does not pick its block out); returns 1 when there was one.
docs_lint() {
  local id file line lang kind arg bad=0 scen name
  while IFS=$'\037' read -r id file line lang kind arg; do
    if [ "$kind" = dangling ]; then
      echo "$file:$line: tag '$arg' is not followed by a fenced shell block"; bad=1; continue
    fi
    if [ -z "$lang" ]; then
      echo "$file:$line: fence without a language (\`\`\`sh for commands, \`\`\`text for output)"; bad=1; continue
    fi
    if [ "$lang" = console ]; then
      echo "$file:$line: \`\`\`console mixes commands and output: \`\`\`sh for the commands, \`\`\`text for what they print"; bad=1; continue
    fi
    if ! docs_is_shell "$lang"; then
      [ "$kind" = none ] || { echo "$file:$line: a $kind tag on a \`\`\`$lang block (only shell blocks are run)"; bad=1; }
      # a prompt marks a command a reader would copy: it belongs in a shell block
      grep -q '^\$ ' "$1/block.$id" 2>/dev/null && [ "$lang" = text ] &&
        { echo "$file:$line: a \`\`\`text block with a shell prompt (\$ ): put commands in a \`\`\`sh block"; bad=1; }
      continue
    fi
    case $kind in
      none) echo "$file:$line: shell block without <!-- run: SCENARIO --> or <!-- not-run: REASON -->"; bad=1 ;;
      not-run) [ -n "$arg" ] || { echo "$file:$line: not-run without a reason"; bad=1; } ;;
      run)
        scen=${arg%% *}; name=; [[ $arg =~ name=([A-Za-z0-9_-]+) ]] && name=${BASH_REMATCH[1]}
        case $scen in
          offline|device|daemon|webhook|install) ;;
          tests/e2e/test_*.sh)
            if [ -z "$name" ]; then echo "$file:$line: '$scen' runs a block only by its name=NAME"; bad=1
            elif ! grep -q "docs_block $file $name\b" "$scen" 2>/dev/null; then
              echo "$file:$line: $scen does not run this block (no 'docs_block $file $name' in it)"; bad=1
            fi ;;
          *) echo "$file:$line: unknown scenario '$scen'"; bad=1 ;;
        esac ;;
    esac
  done <"$1/blocks"
  return $bad
}

# docs_block FILE NAME: prints the shell block of FILE tagged name=NAME; fails when there is not
# exactly one.
docs_block() {
  local tmp n
  tmp=$(mktemp -d /tmp/oncesign-docblock.XXXXXX) || return 1
  docs_parse "$tmp" "$1"
  n=$(awk -F'\037' -v N="$2" '$5 == "run" && $6 ~ ("(^| )name=" N "( |$)") { print $1 }' "$tmp/blocks")
  if [ -z "$n" ] || [ "$(wc -w <<<"$n")" -ne 1 ]; then
    echo "docs_block: $1 has no single block named $2" >&2; rm -rf "$tmp"; return 1
  fi
  cat "$tmp/block.$n"
  rm -rf "$tmp"
}

# docs_source FILE LINE BLOCKFILE: runs the block in the current shell with set -e, pipefail and
# errexit inherited by command substitutions; on the first failing command prints
# "FAIL: FILE:N: <command>" (N: its line in the doc) and exits the (sub)shell with its status.
# Variables a block sets stay for the next block of the same page.
# The caller's options come back afterwards as they were (stack.bash's pipefail stays on).
docs_source() {
  DOCS_WHERE_FILE=$1 DOCS_WHERE_LINE=$2
  local before
  before=$(set +o; shopt -p inherit_errexit)
  set -eE -o pipefail
  shopt -s inherit_errexit
  trap 'rc=$?; echo "FAIL: $DOCS_WHERE_FILE:$((DOCS_WHERE_LINE + LINENO)): $(sed -n "${LINENO}p" "'"$3"'") (exit $rc)" >&2; exit $rc' ERR
  # shellcheck disable=SC1090
  source "$3"
  trap - ERR
  eval "$before"
}
