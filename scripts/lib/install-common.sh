# Shared by the install scripts (sourced, not run). Both honour DRY=1: show, change nothing.

# Shows a command in a dry run, runs it otherwise.
run() {
  if [ "$DRY" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

# Writes stdin to a file with a mode, through a temporary name so that nothing (systemd, a
# reader) ever sees it half-written; says "unchanged" when it already holds exactly that.
put() {
  local dest=$1 mode=$2 content
  content=$(cat)
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode %s)\n' "$dest" "$mode"
    printf '%s\n' "$content" | sed 's/^/    | /'
    return
  fi
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && [ "$(cat "$dest")" = "$content" ] && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    echo "unchanged $dest"
    return
  fi
  printf '%s\n' "$content" >"$dest.tmp"
  chmod "$mode" "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
  echo "installed $dest"
}
