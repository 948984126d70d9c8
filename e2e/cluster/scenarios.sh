# Scenarios of the cluster test bed, sourced by inside.sh on node 1 (see
# run.sh). The one-node suite's scenarios.sh gives the runner and helpers
# (gnt, run_clean, check_verify, the test OS); this file sets the cluster's
# own list. Nodes 2 and 3 are guests: `on N cmd` runs cmd there.
# shellcheck source=../scenarios.sh
. "$E2E_DIR/scenarios.sh"

SCENARIO_LIST=(
  cluster-init
  node-add
  cluster-verify
  node-list
  redist-conf
  renew-crypto
  master-failover
  sharedfile-migrate
  instance-move
  backup-across
  node-drain-offline
  daemon-restart
  cluster-verify-again
  node-remove
  cluster-destroy
)
OPTIONAL_SCENARIOS=" "
EXPECTED_DIR=$E2E_DIR/cluster/expected
NODES=(node1.$E2E_DOMAIN node2.$E2E_DOMAIN node3.$E2E_DOMAIN)
TEMPLATES=plain,drbd,file,sharedfile,diskless
CLUSTER_INIT_ARGS=(
  --enabled-hypervisors=fake
  --enabled-disk-templates=plain,file,sharedfile,diskless
  --vg-name=xenvg
)

# on N cmd...: cmd as root on node N (/run/e2e/on, written by
# master-setup.sh, so that gnt can time it).
ON=/run/e2e/on
on() { "$ON" "$@"; }
# The daemon's processes, whichever daemon (the bracket keeps pgrep from
# matching the shell that runs it).
NODED_PATTERN='/usr/sbin/ganeti-node[d]'


# node-add: nodes 2 and 3 join; node 1 (no device-mapper) stops holding
# instances; then DRBD, which only vm_capable nodes must support.
scenario_node_add() {
  need_cluster || return 1
  local n
  for n in $E2E_GUESTS; do
    run_clean 900 gnt-node add --no-ssh-key-check "node$n.$E2E_DOMAIN" || return 1
  done
  run_clean 300 gnt-node modify --vm-capable=no "$NODE" || return 1
  run_clean 300 gnt-cluster modify --enabled-disk-templates=$TEMPLATES --drbd-usermode-helper=/bin/true || return 1
  run_clean 120 gnt-node list --no-headers -o name,vm_capable,master_candidate || return 1
}

scenario_node_list() {
  need_cluster || return 1
  run_clean 300 gnt-node list --no-headers --separator='|' -o name,mtotal,mnode,mfree,dtotal,dfree,ctotal,vm_capable || return 1
  local line name mtotal mnode mfree dtotal dfree ctotal vmc n
  for n in 2 3; do
    line=$(grep "^node$n.$E2E_DOMAIN|" "$OUT") || fail "node$n not listed: $(last_line)" || return 1
    IFS='|' read -r name mtotal mnode mfree dtotal dfree ctotal vmc <<<"$line"
    local num='^[0-9]+(\.[0-9]+)?[KMGTP]?$' f
    for f in "mtotal=$mtotal" "mnode=$mnode" "mfree=$mfree" "dtotal=$dtotal" "dfree=$dfree"; do
      [[ ${f#*=} =~ $num ]] || fail "node$n: ${f%%=*} is not a live number: '${f#*=}'" || return 1
    done
    [[ $ctotal =~ ^[1-9][0-9]*$ ]] || fail "node$n: ctotal is not a CPU count: '$ctotal'" || return 1
  done
  cp "$OUT" "$RESULTS/node-list-$NODED.txt"
}

# wait_for SECONDS cmd...: until cmd succeeds (quietly), or fail.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 1
  done
}

# add_on NAME TEMPLATE NODE [options...]: a fake instance of e2eos+default.
add_on() {
  local name=$1 template=$2 pnode=$3 disks=(--disk 0:size=1G); shift 3
  [ "$template" != diskless ] || disks=()
  run_clean 600 gnt-instance add -t "$template" "$@" -o e2eos+default -H fake -B memory=128M \
    --no-ip-check --no-name-check "${disks[@]}" -n "$pnode" "$name"
}

# field INSTANCE FIELD: one field of gnt-instance list.
field() {
  gnt 120 gnt-instance list --no-headers -o "$2" "$1" && grep -v '^[[:space:]]*$' "$OUT" | tail -n1 | tr -d ' '
}

# disk_on N PATH-GLOB: the first disk file matching below node N's storage.
disk_on() {
  on "$1" "find $2 -type f -name '*disk0' 2>/dev/null | head -n1"
}

mark_on() { # mark_on N FILE [OFFSET]
  on "$1" "dd if='$2' bs=512 skip=${3:-0} count=1 2>/dev/null | head -n1 | tr -d '\\0'"
}

scenario_cluster_verify_again() {
  need_cluster || return 1
  check_verify cluster-verify-again
}

scenario_renew_crypto() {
  need_cluster || return 1
  local before after n fp=(openssl x509 -in /var/lib/ganeti/client.pem -noout -fingerprint -sha1)
  before=$("${fp[@]}" 2>/dev/null)
  local -A node_before
  for n in $E2E_GUESTS; do node_before[$n]=$(on "$n" "${fp[@]}" 2>/dev/null); done
  run_clean 600 gnt-cluster renew-crypto --new-node-certificates -f || return 1
  after=$("${fp[@]}" 2>/dev/null)
  [ -n "$after" ] && [ "$before" != "$after" ] || fail "client certificate unchanged" || return 1
  # Every node has a new certificate; every daemon takes the master's new
  # client certificate (verify reaches all three).
  for n in $E2E_GUESTS; do
    [ "$(on "$n" "${fp[@]}" 2>/dev/null)" != "${node_before[$n]}" ] || fail "node$n's client.pem unchanged" || return 1
  done
  check_verify renew-crypto after-renew
}

# master-failover: to node 2 (its master daemons start, the master IP moves
# there), then back to node 1.
master_ip_on() { # master_ip_on N: the master IP is on node N's gnt0
  if [ "$1" = 1 ]; then has_master_ip
  else on "$1" "ip -o addr show dev gnt0" | grep -F " $CLUSTER_IP/" >/dev/null; fi
}
scenario_master_failover() {
  need_cluster || return 1
  master_failover_checks && return 0
  # Whatever failed, the later scenarios need node 1 as the master.
  gnt 600 gnt-cluster getmaster && grep -qx "$NODE" "$OUT" ||
    gnt 600 gnt-cluster master-failover --no-voting --yes-do-it
  return 1
}
master_failover_checks() {
  gnt 600 "$ON" 2 gnt-cluster master-failover
  local rc=$?
  [ $rc -eq 0 ] || fail "master-failover to node2 failed (exit $rc): $(last_line)" || return 1
  wait_for 120 master_ip_on 2 || fail "master IP not on node2 after failover" || return 1
  master_ip_on 1 && fail "master IP still on node1" && return 1
  gnt 120 "$ON" 2 gnt-cluster getmaster
  grep -qx "node2.$E2E_DOMAIN" "$OUT" || fail "node2 says the master is $(last_line)" || return 1
  wait_for 300 on 2 gnt-node list || fail "node2's master daemons do not answer" || return 1
  gnt 300 "$ON" 2 gnt-node list --no-headers -o name,master_candidate,vm_capable
  run_clean 600 gnt-cluster master-failover || return 1
  wait_for 120 master_ip_on 1 || fail "master IP not back on node1" || return 1
  master_ip_on 2 && fail "master IP still on node2" && return 1
  gnt 60 gnt-cluster getmaster
  grep -qx "$NODE" "$OUT" || fail "master after failing back: $(last_line)" || return 1
  wait_for 120 gnt-node list || fail "node1's master daemons do not answer" || return 1
  pgrep -f ganeti-luxid >/dev/null || fail "no luxid on node1" || return 1
  on 2 pgrep -f ganeti-luxid >/dev/null && fail "luxid still runs on node2" && return 1
  return 0
}

# sharedfile-migrate: a sharedfile instance (the shared directory is one
# 9p share in both guests) migrates from node 2 to node 3 and fails over
# back; it runs throughout and its disk is the same file.
scenario_sharedfile_migrate() {
  need_cluster || return 1
  local i=inst1.$E2E_DOMAIN
  add_on $i sharedfile node2.$E2E_DOMAIN || { remove_instance $i; return 1; }
  local file; file=$(disk_on 2 "$SHARED_DIR/$i")
  [ -n "$file" ] || { fail "no disk under $SHARED_DIR/$i on node2"; remove_instance $i; return 1; }
  run_clean 600 gnt-instance migrate -f -n node3.$E2E_DOMAIN $i || { remove_instance $i; return 1; }
  [ "$(field $i pnode)" = node3.$E2E_DOMAIN ] || { fail "after migrate the primary is $(field $i pnode)"; remove_instance $i; return 1; }
  [ "$(field $i status)" = running ] || { fail "after migrate: $(field $i status)"; remove_instance $i; return 1; }
  on 3 "test -f '$file'" || { fail "node3 does not see $file"; remove_instance $i; return 1; }
  run_clean 600 gnt-instance failover -f -n node2.$E2E_DOMAIN --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
  [ "$(field $i pnode)" = node2.$E2E_DOMAIN ] || { fail "after failover the primary is $(field $i pnode)"; remove_instance $i; return 1; }
  [ "$(field $i status)" = running ] || { fail "after failover: $(field $i status)"; remove_instance $i; return 1; }
  [[ $(mark_on 2 "$file") == "e2e-create "*" $i" ]] || { fail "disk mark after failover: '$(mark_on 2 "$file")'"; remove_instance $i; return 1; }
  run_clean 300 gnt-instance remove -f --shutdown-timeout=5 $i
}

# instance-move: a file instance moves from node 2 to node 3; its disk is
# streamed between the two daemons (import/export) and keeps its bytes.
scenario_instance_move() {
  need_cluster || return 1
  local i=inst2.$E2E_DOMAIN file newfile sum newsum
  add_on $i file node2.$E2E_DOMAIN || { remove_instance $i; return 1; }
  file=$(disk_on 2 "$FILE_DIR/$i")
  [ -n "$file" ] || { fail "no disk under $FILE_DIR/$i on node2"; remove_instance $i; return 1; }
  on 2 "printf 'e2e-move %s\n' $i | dd of='$file' bs=1M seek=700 conv=notrunc status=none"
  sum=$(on 2 "md5sum < '$file'")
  run_clean 900 gnt-instance move -f -n node3.$E2E_DOMAIN --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
  [ "$(field $i pnode)" = node3.$E2E_DOMAIN ] || { fail "after move the primary is $(field $i pnode)"; remove_instance $i; return 1; }
  newfile=$(disk_on 3 "$FILE_DIR/$i")
  [ -n "$newfile" ] || { fail "no disk under $FILE_DIR/$i on node3"; remove_instance $i; return 1; }
  newsum=$(on 3 "md5sum < '$newfile'")
  [ -n "$sum" ] && [ "$sum" = "$newsum" ] || { fail "moved disk differs ($sum / $newsum)"; remove_instance $i; return 1; }
  on 2 "test -e '$file'" && { fail "$file left on node2"; remove_instance $i; return 1; }
  run_clean 300 gnt-instance remove -f --shutdown-timeout=5 $i
}

# backup-across: a file instance on node 2 exported there, imported on
# node 3 under a new name (the disk streamed from node 2's daemon to
# node 3's), the export removed.
scenario_backup_across() {
  need_cluster || return 1
  local i=inst3.$E2E_DOMAIN new=inst4.$E2E_DOMAIN file newfile mark
  across_cleanup() { remove_instance $i; remove_instance $new; gnt 120 gnt-backup remove $i; }
  add_on $i file node2.$E2E_DOMAIN || { across_cleanup; return 1; }
  file=$(disk_on 2 "$FILE_DIR/$i")
  mark=$(mark_on 2 "$file")
  [[ $mark == "e2e-create "*" $i" ]] || { fail "no create mark: '$mark'"; across_cleanup; return 1; }
  run_clean 900 gnt-backup export --long-sleep -n node2.$E2E_DOMAIN --shutdown-timeout=5 $i || { across_cleanup; return 1; }
  run_clean 60 gnt-backup list --no-headers || { across_cleanup; return 1; }
  grep -qE "^node2.$E2E_DOMAIN +$i$" "$OUT" || { fail "gnt-backup list: $(last_line)"; across_cleanup; return 1; }
  # The export outlives its instance; the import takes its MAC.
  run_clean 300 gnt-instance remove -f --shutdown-timeout=5 $i || { across_cleanup; return 1; }
  run_clean 900 gnt-backup import -n node3.$E2E_DOMAIN --src-node=node2.$E2E_DOMAIN \
    --src-dir="$EXPORT_DIR/$i" -t file --no-ip-check --no-name-check $new || { across_cleanup; return 1; }
  newfile=$(disk_on 3 "$FILE_DIR/$new")
  [ -n "$newfile" ] || { fail "no imported disk on node3"; across_cleanup; return 1; }
  [ "$(mark_on 3 "$newfile")" = "$mark" ] || { fail "imported disk's mark: '$(mark_on 3 "$newfile")'"; across_cleanup; return 1; }
  [ "$(mark_on 3 "$newfile" 1)" = "e2e-rename $i $new" ] || { fail "no rename mark on the imported disk"; across_cleanup; return 1; }
  run_clean 120 gnt-backup remove $i || { across_cleanup; return 1; }
  on 2 "test -e $EXPORT_DIR/$i" && { fail "export left on node2"; across_cleanup; return 1; }
  run_clean 300 gnt-instance remove -f --shutdown-timeout=5 $new || { across_cleanup; return 1; }
}

# node-drain-offline: node 3 drained and back, offline and back.
node_flags() { # node_flags NODE → "offline drained master_candidate"
  gnt 120 gnt-node list --no-headers -o offline,drained,master_candidate "$1" && tail -n1 "$OUT" | tr -s ' ' | sed 's/^ //'
}
scenario_node_drain_offline() {
  need_cluster || return 1
  local n3=node3.$E2E_DOMAIN
  run_clean 300 gnt-node modify --drained=yes $n3 || return 1
  [ "$(node_flags $n3)" = "N Y N" ] || fail "drained: flags $(node_flags $n3)" || return 1
  run_clean 300 gnt-node modify --drained=no $n3 || return 1
  run_clean 300 gnt-node modify --master-candidate=yes $n3 || return 1
  [ "$(node_flags $n3)" = "N N Y" ] || fail "undrained: flags $(node_flags $n3)" || return 1
  run_clean 300 gnt-node modify --offline=yes $n3 || return 1
  [ "$(node_flags $n3)" = "Y N N" ] || fail "offline: flags $(node_flags $n3)" || return 1
  # -f: the node is back as it was (gnt-node asks otherwise); Ganeti warns
  # that this is not a re-add, and nothing else.
  gnt 600 gnt-node modify -f --offline=no $n3 || fail "--offline=no failed: $(last_line)" || return 1
  [ "$(grep -c -E 'WARNING|ERROR|[Ff]ailed' "$OUT")" = 1 ] &&
    grep -q 'WARNING: Transitioning node from offline to online state without using re-add' "$OUT" ||
    fail "--offline=no: $(grep -m1 -E 'WARNING|ERROR|[Ff]ailed' "$OUT" | strip_time)" || return 1
  run_clean 300 gnt-node modify --master-candidate=yes $n3 || return 1
  [ "$(node_flags $n3)" = "N N Y" ] || fail "online again: flags $(node_flags $n3)" || return 1
}

# daemon-restart: node 2's daemon killed and started again while an
# instance runs there; the instance keeps running and the master reaches
# the node again.
scenario_daemon_restart() {
  need_cluster || return 1
  local i=inst5.$E2E_DOMAIN
  add_on $i diskless node2.$E2E_DOMAIN || { remove_instance $i; return 1; }
  on 2 "pkill -KILL -f '$NODED_PATTERN'"
  sleep 1
  on 2 "pgrep -f '$NODED_PATTERN'" && { fail "daemon still running after kill"; remove_instance $i; return 1; }
  gnt 120 "$ON" 2 /usr/lib/ganeti/daemon-util start ganeti-noded || { fail "daemon-util start: $(last_line)"; remove_instance $i; return 1; }
  wait_for 60 gnt-instance list -o name $i || true
  [ "$(field $i status)" = running ] || { fail "after the restart: $(field $i status)"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance info $i || { remove_instance $i; return 1; }
  run_clean 300 gnt-instance reboot --type=hard $i || { remove_instance $i; return 1; }
  run_clean 300 gnt-instance remove -f --shutdown-timeout=5 $i
}

# node-remove: nodes 3 and 2 leave the cluster: their daemons stop and
# their cluster files go.
scenario_node_remove() {
  need_cluster || return 1
  local n
  for n in 3 2; do
    run_clean 600 gnt-node remove node$n.$E2E_DOMAIN || return 1
    wait_for 30 eval "! on $n pgrep -f \"'$NODED_PATTERN'\"" || fail "node$n's daemon still runs" || return 1
    on $n "test -e /var/lib/ganeti/config.data" && fail "node$n keeps config.data" && return 1
    on $n "test -e /var/lib/ganeti/server.pem" && fail "node$n keeps server.pem" && return 1
  done
  run_clean 60 gnt-node list --no-headers -o name || return 1
  [ "$(grep -c . "$OUT")" = 1 ] || fail "nodes left: $(tr '\n' ' ' <"$OUT")" || return 1
}
