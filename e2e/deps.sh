# Sourced by run.sh and cluster/run.sh: which Debian packages the machine
# lacks for the commands in NEED (an associative array, command or absolute
# path → package), one per line, sorted.
missing_packages() {
  local cmd
  for cmd in "${!NEED[@]}"; do
    if [[ $cmd == /* ]]; then [ -x "$cmd" ] && continue
    else command -v "$cmd" >/dev/null 2>&1 && continue; fi
    echo "${NEED[$cmd]}"
  done | sort -u
}
