#!/bin/bash
# The cluster test bed: a Ganeti 3.0 cluster of three or four nodes on
# this machine. Node 1, the first master, runs in private namespaces on
# the host, as the one-node suite does (fast: Ganeti's master daemons at
# native speed), on a volume group of LVM metadata on a loop device (this
# kernel cannot activate volumes), and holds no instances (not
# vm_capable). Nodes 2 and 3, and node 4 (a third DRBD node, which the
# drbd-* scenarios add), are QEMU guests (TCG) on Debian's own kernel,
# with real LVM and DRBD, sharing this machine's root file system
# read-only (see artifacts.sh, initramfs-init, guest-init.sh). All sit on
# bridge gnt0 in network namespace gnt-e2e; nothing else is in it.
#
# Usage: NODED=go|python|mixed [SCENARIOS="a b"] e2e/cluster/run.sh
#   NODED          the node daemon on every node (default go); mixed: Debian's
#                  Python daemon on nodes 2 and 4, ours on nodes 1 and 3
#   NODED_BIN      the Go daemon (default ./ganeti-noded)
#   SCENARIOS      only these scenarios (cluster-init and node-add first)
#   E2E_TIMEOUT    seconds for the scenarios (default 3600)
#   GUEST_MEM      MiB per guest (default 1024); GUEST_SMP vCPUs (default 2)
#   GUEST_CPU      the guests' QEMU CPU model (default max)
#   e2e/cluster/run.sh down   tears down what a killed run left
# Output: PASS/FAIL lines and a summary as in the one-node suite; logs of
# every node in e2e/results/cluster-<NODED>/.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_DIR=$(cd "$HERE/.." && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
NODED=${NODED:-go}
CACHE=${CACHE:-/var/tmp/ganeti-e2e-cluster}
RUN=$CACHE/run
SHARE=$RUN/share
NETNS=gnt-e2e
NET=10.77.1
DOMAIN=example.com
GUESTS="2 3"   # the guests node-add makes nodes of the cluster
SPARE=4        # a third DRBD node, for the scenarios that need one (drbd-*)
GUEST_MEM=${GUEST_MEM:-1024}
GUEST_SMP=${GUEST_SMP:-2}
GUEST_CPU=${GUEST_CPU:-max}
E2E_TIMEOUT=${E2E_TIMEOUT:-3600}

die() { echo "e2e-cluster: $*" >&2; exit 2; }
t0=$(date +%s.%N)
elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }

# --- teardown: guests, namespace, loop device, disks ------------------------
down() {
  local pidf pid n
  for pidf in "$RUN"/node*.pid; do
    [ -e "$pidf" ] || continue
    pid=$(cat "$pidf" 2>/dev/null)
    n=${pidf##*/node}; n=${n%.pid}
    # Only a guest's qemu (the pid may have been reused since).
    if [ -n "$pid" ] && grep -qa qemu-system "/proc/$pid/cmdline" 2>/dev/null; then
      # The guest's shutdown stops its daemons; then qemu ends.
      ip netns exec "$NETNS" timeout 20 ssh -i "$SHARE/ssh/id_rsa" -o BatchMode=yes \
        -o UserKnownHostsFile="$SHARE/ssh/known_hosts" -o ConnectTimeout=3 \
        "root@$NET.1$n" 'busybox poweroff' >/dev/null 2>&1
      for _ in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
      [ -d "/proc/$pid" ] && kill "$pid" 2>/dev/null
      for _ in $(seq 1 20); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
      [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$pidf"
  done
  ip netns del "$NETNS" 2>/dev/null
  if [ -f "$RUN/loop" ]; then
    losetup -d "$(cat "$RUN/loop")" 2>/dev/null
    rm -f "$RUN/loop"
  fi
  rm -rf "$RUN/disks"
}

if [ "${1:-}" = down ]; then
  # Not under a run that is still going: its own end tears it down.
  exec 9>"$CACHE/lock"
  flock -n 9 || die "a cluster run holds $CACHE/lock: it tears down at its end"
  down
  exit 0
fi

case $NODED in
  go) NODE1_NODED=go NODED_2=go NODED_3=go NODED_4=go ;;
  python) NODE1_NODED=python NODED_2=python NODED_3=python NODED_4=python ;;
  mixed) NODE1_NODED=go NODED_2=python NODED_3=go NODED_4=python ;;
  *) die "NODED must be go, python or mixed, not '$NODED'" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root"
# One run at a time: taken before anything of another run's is touched
# (its results, its build).
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -n 9 || die "another cluster run holds $CACHE/lock"

# --- dependencies -----------------------------------------------------------
declare -A NEED=(
  [gnt-cluster]=ganeti [qemu-system-x86_64]=qemu-system-x86 [socat]=socat
  [/usr/sbin/sshd]=openssh-server [ssh]=openssh-client [ip]=iproute2
  [unshare]=util-linux [losetup]=mount [drbdadm]=drbd-utils [vgcreate]=lvm2
  [bc]=bc [xz]=xz-utils
)
# shellcheck source=../deps.sh
. "$E2E_DIR/deps.sh"
mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -gt 0 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq || die "apt-get update failed"
  if [ ${#missing[@]} -gt 0 ]; then
    pkgs=${missing[*]}
    echo "e2e-cluster: installing $pkgs" >&2
    # shellcheck disable=SC2086
    timeout 1200 apt-get install -y --no-install-recommends $pkgs >&2 || die "apt-get install failed"
  fi
fi
KV=$(CACHE=$CACHE "$HERE/artifacts.sh") || die "guest kernel and initramfs: see above"

NODED_BIN=${NODED_BIN:-$REPO/ganeti-noded}
if [ "$NODED" != python ]; then
  [ -x "$NODED_BIN" ] || (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o ganeti-noded .) || die "go build failed"
  NODED_BIN=$(realpath "$NODED_BIN")
fi

RESULTS=${RESULTS:-$E2E_DIR/results/cluster-$NODED}
rm -rf "$RESULTS"; mkdir -p "$RESULTS"

# --- the run's directory and share ------------------------------------------
down
# On any end (a signal too), the master's namespace dies first: unshare
# (--kill-child) takes every process in it along.
NS_PID=
POWER_PID=
end_run() {
  # The power server and a power request it is carrying out end before
  # down reads the guests' pid files.
  if [ -n "$POWER_PID" ]; then
    pkill -P "$POWER_PID" 2>/dev/null
    kill "$POWER_PID" 2>/dev/null
    wait "$POWER_PID" 2>/dev/null
  fi
  if [ -n "$NS_PID" ]; then
    pkill -KILL -P "$NS_PID" 2>/dev/null
    kill -KILL "$NS_PID" 2>/dev/null
  fi
  down
}
trap end_run EXIT
trap 'exit 130' INT TERM
rm -rf "$RUN"; mkdir -p "$SHARE/ssh" "$SHARE/shared" "$RUN/disks"
cat >"$SHARE/env" <<EOT
NODED_2=$NODED_2
NODED_3=$NODED_3
NODED_4=$NODED_4
NET=$NET
DOMAIN=$DOMAIN
VG=xenvg
FILE_DIR=/srv/ganeti/file-storage
SHARED_DIR=/srv/ganeti/shared-file-storage
EOT
{
  echo "127.0.0.1 localhost"
  for n in 1 2 3 4; do echo "$NET.1$n node$n.$DOMAIN node$n"; done
  echo "$NET.100 cluster.$DOMAIN cluster"
  for i in $(seq 1 9); do echo "$NET.2$i inst$i.$DOMAIN inst$i"; done
} >"$SHARE/hosts"
ssh-keygen -q -t rsa -b 2048 -N "" -C e2e-cluster -f "$SHARE/ssh/id_rsa"
names=$(for n in 1 2 3 4; do printf 'node%s.%s,node%s,%s.1%s,' "$n" "$DOMAIN" "$n" "$NET" "$n"; done)
names="${names}cluster.$DOMAIN,$NET.100"
for k in /etc/ssh/ssh_host_*_key.pub; do echo "$names $(cut -d' ' -f1,2 "$k")"; done >"$SHARE/ssh/known_hosts"
[ -s "$SHARE/ssh/known_hosts" ] || die "no ssh host keys in /etc/ssh"
[ "$NODED" != python ] && install -m 755 "$NODED_BIN" "$SHARE/ganeti-noded"
# The daemon's tests, for plain-contract (the device contract on a guest's
# real LVM), whichever daemon the nodes run.
if [ -z "${SCENARIOS:-}" ] || [[ " $SCENARIOS " == *" plain-contract "* ]]; then
  mkdir -p "$SHARE/contract" && cp -r "$REPO/testdata" "$SHARE/contract/"
  (cd "$REPO" && CGO_ENABLED=0 go test -c -trimpath -o "$SHARE/contract/noded.test" .) || die "go test -c failed"
fi
# The test OS of the one-node suite, for every node.
(
  # shellcheck source=../scenarios.sh
  . "$E2E_DIR/scenarios.sh"
  OS_DIR=$SHARE/os
  ensure_test_os
)
cp "$HERE/guest-init.sh" "$HERE/guest-shutdown.sh" "$HERE/lvm-record.sh" "$HERE/scratch-pv.sh" "$SHARE/"

# --- network ------------------------------------------------------------------
ip netns add "$NETNS" || die "ip netns add $NETNS"
nsx() { ip netns exec "$NETNS" "$@"; }
nsx ip link set lo up
nsx ip link add gnt0 type bridge
nsx ip addr add "$NET.11/24" dev gnt0
nsx ip link set gnt0 up
# Node 4 boots only for the scenarios that add it (drbd-*, or all).
BOOT=$GUESTS
if [ -z "${SCENARIOS:-}" ] || [[ " $SCENARIOS " == *" drbd-"* ]]; then BOOT="$GUESTS $SPARE"; fi
for n in $BOOT; do
  nsx ip tuntap add dev "tap$n" mode tap
  nsx ip link set "tap$n" master gnt0
  nsx ip link set "tap$n" up
done

# --- guests -------------------------------------------------------------------
start_guest() {
  local n=$1
  truncate -s 30G "$RUN/disks/node$n.img"
  truncate -s 8G "$RUN/disks/node$n-files.img"
  mkdir -p "$SHARE/node$n"
  nsx qemu-system-x86_64 -name "node$n" -machine q35 \
    -accel tcg,thread=multi,tb-size=256 -cpu "$GUEST_CPU" -smp "$GUEST_SMP" -m "$GUEST_MEM" \
    -nodefaults -no-user-config -display none -vga none -no-reboot \
    -kernel "$CACHE/kernel/boot/vmlinuz-$KV" -initrd "$CACHE/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 e2e.node=$n e2e.cache=$CACHE" \
    -fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev local,id=share,path="$SHARE",security_model=passthrough,multidevs=remap \
    -device virtio-9p-pci,fsdev=share,mount_tag=share \
    -fsdev local,id=shared,path="$SHARE/shared",security_model=passthrough,multidevs=remap \
    -device virtio-9p-pci,fsdev=shared,mount_tag=shared \
    -drive "file=$RUN/disks/node$n.img,format=raw,if=none,id=d0,cache=unsafe" \
    -device virtio-blk-pci,drive=d0,serial="gnt$n" \
    -drive "file=$RUN/disks/node$n-files.img,format=raw,if=none,id=d1,cache=unsafe" \
    -device virtio-blk-pci,drive=d1,serial="gntfiles$n" \
    -netdev "tap,id=n0,ifname=tap$n,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=n0,mac=52:54:00:77:01:1$n" \
    -device virtio-rng-pci \
    -serial "file:$SHARE/node$n/console.log" -monitor "unix:$RUN/node$n.mon,server,nowait" \
    -pidfile "$RUN/node$n.pid" -daemonize
}
for n in $BOOT; do start_guest "$n" || die "qemu for node$n did not start"; done
guest_ssh() {
  local n=$1; shift
  nsx ssh -i "$SHARE/ssh/id_rsa" -o BatchMode=yes -o UserKnownHostsFile="$SHARE/ssh/known_hosts" \
    -o ConnectTimeout=5 -o LogLevel=ERROR "root@$NET.1$n" "$@"
}
wait_guest() { # wait_guest N: until its init is done and ssh answers
  local n=$1
  for _ in $(seq 1 600); do [ -f "$SHARE/node$n/ready" ] && break; sleep 0.5; done
  [ -f "$SHARE/node$n/ready" ] || return 1
  for _ in $(seq 1 120); do guest_ssh "$n" true 2>/dev/null && return 0; sleep 0.5; done
  return 1
}
for n in $BOOT; do
  wait_guest "$n" || die "node$n did not come up (see $SHARE/node$n/)"
  echo "node$n: up, $(elapsed) s after the start (guest uptime $(cat "$SHARE/node$n/ready") s)"
done

# Power requests from the scenarios: they run in a PID namespace of their
# own, where qemu's pid file would name another process, so this side
# powers a guest off (qemu quits: the plug pulled) and on (the same disks,
# a second boot; see guest-init.sh). A scenario writes $REQ/off-N or on-N
# and waits for $REQ/off-N.rc (see power in scenarios.sh).
REQ=$RUN/requests
mkdir -p "$REQ"
power_off() {
  local pid
  pid=$(cat "$RUN/node$1.pid" 2>/dev/null) || return 1
  echo quit | nsx socat - "UNIX-CONNECT:$RUN/node$1.mon" >/dev/null
  for _ in $(seq 1 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  [ -d "/proc/$pid" ] && return 1
  rm -f "$RUN/node$1.pid"
}
power_on() {
  [ ! -e "$RUN/node$1.pid" ] || return 1
  rm -f "$SHARE/node$1/ready"
  start_guest "$1" && wait_guest "$1"
}
serve_power() {
  local req r n
  while sleep 1; do
    for req in "$REQ"/off-[234] "$REQ"/on-[234]; do
      [ -e "$req" ] || continue
      r=${req##*/}; n=${r#*-}
      rm -f "$req"
      if [ "${r%-*}" = off ]; then power_off "$n"; else power_on "$n"; fi >"$req.out" 2>&1
      # The answer appears whole: power() reads it as soon as it exists.
      echo $? >"$req.rc.tmp" && mv "$req.rc.tmp" "$req.rc"
    done
  done
}
serve_power 2>/dev/null &  # answers go to files; no "Terminated" when it is killed
POWER_PID=$!

# --- node 1 and the scenarios -------------------------------------------------
truncate -s 21G "$RUN/disks/node1.img"
losetup -f --show "$RUN/disks/node1.img" >"$RUN/loop" || die "losetup"
# inside.sh runs node 1 with its daemon; the results keep the run's name.
export E2E_DIR REPO NODED=$NODE1_NODED NODED_BIN RESULTS TRACE=0
export SCENARIOS=${SCENARIOS:-}
export E2E_NODE=node1.$DOMAIN E2E_NODE_IP=$NET.11 E2E_CLUSTER=cluster.$DOMAIN E2E_CLUSTER_IP=$NET.100
export E2E_NET_READY=1 E2E_HOSTS=$SHARE/hosts E2E_SETUP_HOOK=cluster/master-setup.sh
export E2E_SCENARIOS_FILE=cluster/scenarios.sh E2E_SHARE=$SHARE E2E_LOOP=$(cat "$RUN/loop")
export E2E_GUESTS=$GUESTS E2E_DOMAIN=$DOMAIN E2E_NET=$NET E2E_POWER=$REQ
export E2E_SPARE=$([[ " $BOOT " == *" $SPARE "* ]] && echo $SPARE)
timeout --kill-after=15 "$E2E_TIMEOUT" \
  ip netns exec "$NETNS" unshare --pid --fork --kill-child --mount-proc --uts --mount --propagation private \
  bash "$E2E_DIR/inside.sh" &
NS_PID=$!
wait "$NS_PID"
rc=$?
NS_PID=

for n in $BOOT; do cp -a "$SHARE/node$n" "$RESULTS/" 2>/dev/null; done
echo "e2e-cluster: $(elapsed) s in all"
if [ ! -f "$RESULTS/summary.txt" ]; then
  echo "FAIL harness: the master's namespace ended early (exit $rc)"
  exit 1
fi
exit $rc
