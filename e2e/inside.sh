#!/bin/bash
# Runs as PID 1 of private pid, net, uts and mount namespaces (see run.sh):
# builds a private node (hostname, network, hosts file, Ganeti directories,
# sshd), swaps in the chosen node daemon, then runs the scenarios.
#
# Environment from run.sh: E2E_DIR REPO NODED NODED_BIN TRACE RESULTS SCENARIOS.
# The cluster test bed (cluster/run.sh) runs its master node here too, with:
#   E2E_NODE, E2E_NODE_IP, E2E_CLUSTER, E2E_CLUSTER_IP  names and addresses
#   E2E_NET_READY=1   the network namespace already has the bridge and address
#   E2E_HOSTS         the hosts file to use
#   E2E_SETUP_HOOK    a file under e2e/ sourced at the end of setup (may call step)
#   E2E_SCENARIOS_FILE  a file under e2e/ to source instead of scenarios.sh
set -u -o pipefail

NODE=${E2E_NODE:-node1.example.com}
NODE_IP=${E2E_NODE_IP:-10.77.0.1}
CLUSTER=${E2E_CLUSTER:-cluster.example.com}
CLUSTER_IP=${E2E_CLUSTER_IP:-10.77.0.100}
BRIDGE=gnt0
FILE_DIR=/srv/ganeti/file-storage
SHARED_DIR=/srv/ganeti/shared-file-storage

LOGS=$RESULTS/logs
mkdir -p "$LOGS" "$RESULTS/scenarios" "$RESULTS/rpcs"
SETUP_LOG=$RESULTS/setup.log
: >"$SETUP_LOG"

# Keep the cluster's logs whatever happens.
save_logs() {
  cp -a /var/log/ganeti/. "$LOGS/" 2>/dev/null
  [ -f /run/e2e/sshd.log ] && cp /run/e2e/sshd.log "$LOGS/" 2>/dev/null
  [ -f /run/e2e/os-calls.log ] && cp /run/e2e/os-calls.log "$LOGS/" 2>/dev/null
}
trap save_logs EXIT

SETUP_ERROR=""
step() { # step <description> <command...>: run a setup step, log it
  local what=$1; shift
  echo "+ [$what] $*" >>"$SETUP_LOG"
  if ! timeout 60 "$@" >>"$SETUP_LOG" 2>&1; then
    SETUP_ERROR="$what failed ($*)"
    echo "! $SETUP_ERROR" >>"$SETUP_LOG"
    return 1
  fi
}

setup() {
  # /run first, so that nothing below writes into the host's /run
  # (/var/run and /var/lock are links into it on Debian).
  # -n: libmount would otherwise create /run/mount on the host for its utab.
  step "private /run" mount -n -t tmpfs -o mode=755 tmpfs /run || return 1
  mkdir -p /run/lock /run/sshd /run/ganeti /run/e2e && chmod 1777 /run/lock
  # The repository may live below a directory hidden next (/tmp, /srv,
  # /root): reach it, and the results directory in it, through /run.
  mkdir -p /run/e2e/repo
  step "repository" mount --bind "$REPO" /run/e2e/repo || return 1
  E2E_DIR=/run/e2e/repo/${E2E_DIR#"$REPO"/}
  RESULTS=/run/e2e/repo/${RESULTS#"$REPO"/}
  LOGS=$RESULTS/logs
  SETUP_LOG=$RESULTS/setup.log
  REPO=/run/e2e/repo
  export E2E_DIR RESULTS REPO
  # Where /var/run or /var/lock are not links into /run, hide them too.
  local d
  [ "$(readlink -f /var/run)" = /run ] || { step "tmpfs /var/run" mount -t tmpfs tmpfs /var/run || return 1; }
  [ "$(readlink -f /var/lock)" = /run/lock ] || { step "tmpfs /var/lock" mount -t tmpfs tmpfs /var/lock || return 1; }
  # A copy of the daemon under test: immune to rebuilds during the run, and
  # still there if it came from /tmp, which is hidden next.
  if [ "$NODED" = go ]; then
    step "copy go daemon" install -m 755 "$NODED_BIN" /run/e2e/ganeti-noded || return 1
  fi
  step "private /tmp" mount -t tmpfs -o mode=1777 tmpfs /tmp || return 1
  # ip netns exec (the cluster test bed) mounts the namespace's own sysfs.
  [ "${E2E_NET_READY:-0}" = 1 ] || step "sysfs" mount -t sysfs sysfs /sys || return 1

  step hostname hostname "$NODE" || return 1
  if [ "${E2E_NET_READY:-0}" != 1 ]; then
    step "loopback" ip link set lo up || return 1
    step "bridge" ip link add "$BRIDGE" type bridge || return 1
    step "bridge address" ip addr add "$NODE_IP/24" dev "$BRIDGE" || return 1
    step "bridge up" ip link set "$BRIDGE" up || return 1
  fi

  # Private /etc files: hosts, hostname, ganeti, ssh.
  if [ -n "${E2E_HOSTS:-}" ]; then
    cp "$E2E_HOSTS" /run/e2e/hosts
  else {
    echo "127.0.0.1 localhost"
    echo "$NODE_IP $NODE node1"
    echo "$CLUSTER_IP $CLUSTER cluster"
    # inst1..inst13 on 10.77.0.11..19, 10.77.0.110..113
    for i in $(seq 1 13); do echo "10.77.0.1$i inst$i.example.com inst$i"; done
  } >/run/e2e/hosts
  fi
  echo "$NODE" >/run/e2e/hostname
  step "/etc/hosts" mount --bind /run/e2e/hosts /etc/hosts || return 1
  step "/etc/hostname" mount --bind /run/e2e/hostname /etc/hostname || return 1
  mkdir -p /run/e2e/etc-ganeti /run/e2e/etc-ssh
  step "copy /etc/ganeti" cp -a /etc/ganeti/. /run/e2e/etc-ganeti/ || return 1
  step "/etc/ganeti" mount --bind /run/e2e/etc-ganeti /etc/ganeti || return 1
  step "copy /etc/ssh" cp -a /etc/ssh/. /run/e2e/etc-ssh/ || return 1
  step "/etc/ssh" mount --bind /run/e2e/etc-ssh /etc/ssh || return 1

  # Ganeti's state, logs, storage and root's ssh files on tmpfs.
  for d in /var/lib/ganeti /var/log/ganeti /srv; do
    step "tmpfs $d" mount -t tmpfs tmpfs "$d" || return 1
  done
  if [ -d /root/.ssh ]; then
    step "tmpfs /root/.ssh" mount -t tmpfs -o mode=700 tmpfs /root/.ssh || return 1
  elif [[ $REPO != /root/* ]]; then
    # Hide all of /root rather than create /root/.ssh on the host.
    step "tmpfs /root" mount -t tmpfs -o mode=700 tmpfs /root || return 1
    mkdir -m 700 /root/.ssh
  else
    mkdir -m 700 /root/.ssh
    step "tmpfs /root/.ssh" mount -t tmpfs -o mode=700 tmpfs /root/.ssh || return 1
  fi

  step "ensure-dirs" /usr/lib/ganeti/ensure-dirs || return 1
  step "chown /var/lib/ganeti" chown gnt-masterd:gnt-masterd /var/lib/ganeti || return 1
  mkdir -p "$FILE_DIR" "$SHARED_DIR"
  printf '%s\n' "$FILE_DIR" "$SHARED_DIR" >/etc/ganeti/file-storage-paths

  # The node daemon under test.
  case $NODED in
    go) step "bind go daemon" mount --bind /run/e2e/ganeti-noded /usr/sbin/ganeti-noded || return 1 ;;
    python)
      if [ "$TRACE" = 1 ]; then
        step "bind tracing wrapper" mount --bind "$E2E_DIR/noded-trace.py" /usr/sbin/ganeti-noded || return 1
      fi ;;
  esac
  step "node daemon version" /usr/sbin/ganeti-noded --version || return 1

  # sshd on the node address; root logs in to itself with a key.
  step "root ssh key" ssh-keygen -q -t rsa -b 2048 -N "" -f /root/.ssh/id_rsa || return 1
  cp /root/.ssh/id_rsa.pub /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  step "sshd" /usr/sbin/sshd -o ListenAddress="$NODE_IP" -o PidFile=/run/sshd.pid \
    -o PermitRootLogin=prohibit-password -o UseDNS=no -E /run/e2e/sshd.log || return 1
  local keys="" n
  for n in 1 2 3 4 5 6 7 8 9 10; do
    keys=$(ssh-keyscan -T 2 "$NODE_IP" 2>/dev/null) && [ -n "$keys" ] && break
    sleep 0.3
  done
  [ -n "$keys" ] || { SETUP_ERROR="ssh-keyscan found no host keys on $NODE_IP"; return 1; }
  sed "s/^$NODE_IP /$NODE,$NODE_IP,$CLUSTER,$CLUSTER_IP /" <<<"$keys" >/root/.ssh/known_hosts
  step "ssh to self" ssh -o BatchMode=yes "$NODE" true || return 1
  if [ -n "${E2E_SETUP_HOOK:-}" ]; then
    # shellcheck source=/dev/null
    . "$E2E_DIR/$E2E_SETUP_HOOK" || return 1
  fi
}

if ! setup; then
  [ -n "$SETUP_ERROR" ] || SETUP_ERROR="setup failed"
fi

# shellcheck source=scenarios.sh
. "$E2E_DIR/${E2E_SCENARIOS_FILE:-scenarios.sh}"
run_scenarios
