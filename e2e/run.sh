#!/bin/bash
# End-to-end suite: a real one-node Ganeti 3.0 cluster in private Linux
# namespaces (pid, net, uts, mount), with the chosen node daemon over
# /usr/sbin/ganeti-noded. The host keeps its network, files and processes:
# everything the cluster starts dies with the namespace's first process.
#
# Usage: NODED=go|python [TRACE=1] [SCENARIOS="a b c"] e2e/run.sh
#   NODED=go      ./ganeti-noded (make build) bind-mounted over the daemon
#   NODED=python  Debian's Python daemon, as installed
#   TRACE=1       (python only) run Debian's daemon through e2e/noded-trace.py,
#                 which records every RPC's request and reply in
#                 results/<NODED>/logs/rpc-trace.jsonl
#   SCENARIOS     run only these scenarios (default: all, see scenarios.sh)
#   E2E_TIMEOUT   seconds for the whole namespace run (default 900)
#   NODED_BIN     the Go daemon to test (default ./ganeti-noded)
#
# Output: one "PASS <name> (N s)" or "FAIL <name>: <reason> (N s)" line per
# scenario, then "N passed, N failed". Logs go to e2e/results/<NODED>/.
set -u -o pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
NODED=${NODED:-go}
TRACE=${TRACE:-0}
E2E_TIMEOUT=${E2E_TIMEOUT:-900}

die() { echo "e2e: $*" >&2; exit 2; }

case $NODED in
  go|python) ;;
  *) die "NODED must be go or python, not '$NODED'" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, mounts, daemons)"

# --- dependencies: install only when a needed command is missing ----------
# command -> Debian package
declare -A NEED=(
  [gnt-cluster]=ganeti [/usr/sbin/ganeti-noded]=ganeti
  [qemu-system-x86_64]=qemu-system-x86 [qemu-img]=qemu-utils [socat]=socat
  [/usr/sbin/sshd]=openssh-server [ssh]=openssh-client [ssh-keygen]=openssh-client
  [ssh-keyscan]=openssh-client [ip]=iproute2 [unshare]=util-linux
  [timeout]=coreutils [python3]=python3 [openssl]=openssl [diff]=diffutils
)
# shellcheck source=deps.sh
. "$E2E_DIR/deps.sh"
mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' ganeti qemu-system-x86 qemu-utils socat "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "e2e: installing $pkgs" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086
  timeout 1200 apt-get install -y --no-install-recommends $pkgs >&2 || die "apt-get install failed"
fi

NODED_BIN=${NODED_BIN:-$REPO/ganeti-noded}
if [ "$NODED" = go ]; then
  NODED_BIN=$(realpath "$NODED_BIN")
  if [ ! -x "$NODED_BIN" ] && [ "$NODED_BIN" = "$REPO/ganeti-noded" ]; then
    command -v go >/dev/null 2>&1 || die "$REPO/ganeti-noded missing and no go toolchain (run make build)"
    (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o ganeti-noded .) || die "go build failed"
  fi
  [ -x "$NODED_BIN" ] || die "$NODED_BIN is not an executable"
  [ "$TRACE" = 1 ] && die "TRACE=1 only works with NODED=python"
fi

# --- results ------------------------------------------------------------------
RESULTS=$REPO/e2e/results/$NODED
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

export E2E_DIR REPO NODED NODED_BIN TRACE RESULTS
export SCENARIOS=${SCENARIOS:-}

# --kill-child: if unshare itself is killed (outer timeout), its child, PID 1
# of the namespace, gets SIGKILL, and with it every process in the namespace.
timeout --kill-after=15 "$E2E_TIMEOUT" \
  unshare --pid --fork --kill-child --mount-proc --net --uts --mount --propagation private \
  bash "$E2E_DIR/inside.sh"
rc=$?

if [ $rc -eq 124 ] || [ $rc -eq 137 ] || [ ! -f "$RESULTS/summary.txt" ]; then
  # The namespace did not finish: summarise what it recorded.
  echo "FAIL harness: namespace run ended early (exit $rc, timeout ${E2E_TIMEOUT}s)"
  passed=$(grep -c '^PASS ' "$RESULTS/results.txt" 2>/dev/null)
  failed=$(grep -c '^FAIL ' "$RESULTS/results.txt" 2>/dev/null)
  echo "${passed:-0} passed, $(( ${failed:-0} + 1 )) failed"
  exit 1
fi
exit $rc
