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

# on N cmd...: cmd as root on node N (Ganeti gives nodes new host keys when
# they join: none are checked).
on() {
  local n=$1; shift
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "node$n.$E2E_DOMAIN" "$@"
}

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
