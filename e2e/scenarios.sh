# Scenarios of the end-to-end suite, sourced by inside.sh (inside the
# namespaces, after setup).
#
# Adding a scenario: write a function scenario_<name with _ for ->, add
# <name> to SCENARIO_LIST in the order it should run, and, if it needs a
# running cluster, start it with `need_cluster || return 1`. A scenario
# returns 0 to pass; to fail it calls `fail "short reason"` (which returns 1).
# Run commands with `gnt SECONDS cmd...`: output goes to the scenario's log
# and to the file $OUT, and the exit status is returned; `run_clean` also
# fails (setting the reason) on a non-zero exit or a warning in the output.
# A scenario listed in OPTIONAL_SCENARIOS runs only when named in SCENARIOS
# or with E2E_PROBES=1.

SCENARIO_LIST=(
  cluster-init
  cluster-verify
  node-list
  node-info
  redist-conf
  renew-crypto
  watcher-pause
  debug-delay
  hook
  instance-diskless
  instance-file
  instance-sharedfile
  list-storage
  verify-disks
  os-list
  hv-params-other
  instance-reinstall
  instance-rename
  backup
  instance-kvm
  instance-kvm-disk-hotplug
  burnin
  rpc-probes
  cluster-destroy
)

# Run only when named in SCENARIOS or with E2E_PROBES=1.
OPTIONAL_SCENARIOS=" rpc-probes "

EXPECTED_DIR=$E2E_DIR/expected
OUT=/run/e2e/out            # output of the last `gnt` command
CLUSTER_UP=0                # set by cluster-init, cleared by cluster-destroy
CLUSTER_ERROR="cluster-init did not run"
REASON=""

fail() { REASON=$*; return 1; }

# gnt SECONDS cmd...: run a command with a timeout, log it, keep its output.
gnt() {
  local secs=$1; shift
  echo "+ $*" >>"$SCENARIO_LOG"
  timeout --kill-after=10 "$secs" "$@" >"$OUT" 2>&1
  local rc=$?
  cat "$OUT" >>"$SCENARIO_LOG"
  echo "= exit $rc" >>"$SCENARIO_LOG"
  [ $rc -eq 124 ] && echo "(timed out after ${secs}s)" >>"$OUT"
  return $rc
}

# run_clean SECONDS cmd...: gnt, and the command must exit 0 without
# printing warnings or errors (none of the commands used here printed any
# with the Python daemon, apart from gnt-cluster verify's findings).
run_clean() {
  local rc warn what="${*:2:2}"
  gnt "$@"; rc=$?
  [ $rc -eq 0 ] || fail "$what failed (exit $rc): $(last_line)" || return 1
  # gnt-node add's notice of what it will change ("-- WARNING --") is not one.
  warn=$(grep -v -x -- '-- WARNING -- *' "$OUT" | grep -m1 -E 'WARNING|ERROR|Communication failure|[Ff]ailed' |
    strip_time | cut -c1-200)
  [ -z "$warn" ] || fail "$what warned: $warn" || return 1
}

strip_time() {
  sed -E 's/^[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [0-9]{4} +//'
}

# last_line: a short summary of the last command's output, for reasons.
last_line() {
  grep -v '^[[:space:]]*$' "$OUT" | tail -n 1 | strip_time | cut -c1-200
}

# has_master_ip: the cluster IP is on the bridge. grep reads all of ip's
# output: with pipefail, grep -q's early exit would fail ip (SIGPIPE).
has_master_ip() {
  ip -o addr show dev "$BRIDGE" | grep -F " $CLUSTER_IP/" >/dev/null
}

need_cluster() {
  [ "$CLUSTER_UP" = 1 ] || fail "no cluster: $CLUSTER_ERROR"
}

# verify_findings FILE: the ERROR and WARNING lines of gnt-cluster verify's
# output, without timestamps, node UUIDs as <uuid>, sorted.
verify_findings() {
  strip_time <"$1" | grep -E '^ *- (ERROR|WARNING):' | sed -E 's/^ *//' |
    sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<uuid>/g' |
    LC_ALL=C sort
}

# check_verify NAME: run gnt-cluster verify; its findings must equal those
# the Python daemon gave (e2e/expected/verify.txt). A Python run records
# them when the file is missing or UPDATE_EXPECTED=1.
check_verify() {
  local name=$1 found=$RESULTS/verify-$NODED${2:+-$2}.txt
  gnt 300 gnt-cluster verify
  local rc=$?
  [ $rc -ne 124 ] || fail "gnt-cluster verify timed out" || return 1
  grep -q 'Verifying' "$OUT" || fail "gnt-cluster verify did not run: $(last_line)" || return 1
  grep -q 'Other Notes\|Hooks Results\|Verifying node status\|Verifying orphan' "$OUT" ||
    fail "gnt-cluster verify stopped early: $(last_line)" || return 1
  verify_findings "$OUT" >"$found"
  if [ "$NODED" = python ] && { [ ! -f "$EXPECTED_DIR/verify.txt" ] || [ "${UPDATE_EXPECTED:-0}" = 1 ]; }; then
    mkdir -p "$EXPECTED_DIR"
    cp "$found" "$EXPECTED_DIR/verify.txt"
    echo "(recorded $EXPECTED_DIR/verify.txt)" >>"$SCENARIO_LOG"
  fi
  [ -f "$EXPECTED_DIR/verify.txt" ] || fail "no $EXPECTED_DIR/verify.txt (run with NODED=python)" || return 1
  if ! diff -u "$EXPECTED_DIR/verify.txt" "$found" >"$RESULTS/scenarios/$name.verify.diff"; then
    local missing extra first
    missing=$(LC_ALL=C comm -23 "$EXPECTED_DIR/verify.txt" "$found" | wc -l)
    extra=$(LC_ALL=C comm -13 "$EXPECTED_DIR/verify.txt" "$found" | wc -l)
    first=$(LC_ALL=C comm -13 "$EXPECTED_DIR/verify.txt" "$found" | head -n1)
    [ -n "$first" ] && first="first extra: $first" ||
      first="first missing: $(LC_ALL=C comm -23 "$EXPECTED_DIR/verify.txt" "$found" | head -n1)"
    fail "verify findings differ from expected/verify.txt ($missing missing, $extra extra); $(cut -c1-150 <<<"$first")"
    return 1
  fi
  rm -f "$RESULTS/scenarios/$name.verify.diff"
}

# --- scenarios -----------------------------------------------------------------

# The one-node cluster's hypervisors and disk templates; the cluster test
# bed (cluster/scenarios.sh) sets its own after sourcing this file.
CLUSTER_INIT_ARGS=(
  --enabled-hypervisors=fake,kvm
  --enabled-disk-templates=file,sharedfile,diskless
  -H kvm:kernel_path=,initrd_path=,vnc_bind_address=
)

scenario_cluster_init() {
  [ -z "$SETUP_ERROR" ] || { CLUSTER_ERROR="setup: $SETUP_ERROR"; fail "$CLUSTER_ERROR"; return 1; }
  if ! run_clean 300 gnt-cluster init "${CLUSTER_INIT_ARGS[@]}" \
      --file-storage-dir="$FILE_DIR" \
      --shared-file-storage-dir="$SHARED_DIR" \
      --master-netdev="$BRIDGE" \
      --nic-parameters=link="$BRIDGE" \
      --no-etc-hosts \
      "$CLUSTER"; then
    # It may have warned and still made a cluster: go on to check.
    local init_error=$REASON
    [ -f /var/lib/ganeti/config.data ] || { CLUSTER_ERROR=$init_error; fail "$CLUSTER_ERROR"; return 1; }
  fi
  [ -f /var/lib/ganeti/config.data ] || { CLUSTER_ERROR="no config.data after init"; fail "$CLUSTER_ERROR"; return 1; }
  # The master answers queries once its daemons are up.
  local i
  for i in $(seq 1 30); do
    gnt 30 gnt-cluster getmaster && grep -qx "$NODE" "$OUT" && break
    sleep 1
  done
  grep -qx "$NODE" "$OUT" || { CLUSTER_ERROR="gnt-cluster getmaster: $(last_line)"; fail "$CLUSTER_ERROR"; return 1; }
  # From here on the cluster exists and later scenarios can run, even if
  # this one fails below.
  CLUSTER_UP=1
  [ -z "${init_error:-}" ] || fail "$init_error" || return 1
  # The master daemon activates the master IP once it runs, through a job
  # that waits behind init's own jobs; a slow machine needs a while.
  local waited=$SECONDS
  for i in $(seq 1 120); do
    has_master_ip && break
    sleep 0.5
  done
  waited=$((SECONDS - waited))
  if ! has_master_ip; then
    ip -o addr show dev "$BRIDGE" >>"$SCENARIO_LOG" 2>&1
    # Keep what tells why: the jobs and the node daemon's view of them.
    gnt 30 gnt-job list
    grep -h 'master_ip' /var/log/ganeti/node-daemon.log >>"$SCENARIO_LOG" 2>/dev/null
    fail "master IP $CLUSTER_IP not on $BRIDGE (waited ${waited}s)" || return 1
  fi
}

scenario_cluster_verify() {
  need_cluster || return 1
  check_verify cluster-verify
}

scenario_node_list() {
  need_cluster || return 1
  run_clean 120 gnt-node list --no-headers --separator='|' -o name,mtotal,mnode,mfree,dtotal,dfree,ctotal || return 1
  local line name mtotal mnode mfree dtotal dfree ctotal
  line=$(grep "^$NODE|" "$OUT") || fail "$NODE not listed: $(last_line)" || return 1
  IFS='|' read -r name mtotal mnode mfree dtotal dfree ctotal <<<"$line"
  # Memory figures come with a unit (e.g. 23.5G); CPUs are a plain count.
  local num='^[0-9]+(\.[0-9]+)?[KMGTP]?$' f
  for f in "mtotal=$mtotal" "mnode=$mnode" "mfree=$mfree"; do
    [[ ${f#*=} =~ $num ]] || fail "${f%%=*} is not a live number: '${f#*=}'" || return 1
  done
  [[ $ctotal =~ ^[1-9][0-9]*$ ]] || fail "ctotal is not a CPU count: '$ctotal'" || return 1
  # dtotal/dfree: file storage figures, or ? when not reported.
  echo "$line" >"$RESULTS/node-list-$NODED.txt"
}

scenario_node_info() {
  need_cluster || return 1
  run_clean 120 gnt-node info "$NODE" || return 1
  grep -q "Node name: $NODE" "$OUT" || fail "no 'Node name: $NODE' in output" || return 1
}

scenario_redist_conf() {
  need_cluster || return 1
  run_clean 120 gnt-cluster redist-conf
}

scenario_renew_crypto() {
  need_cluster || return 1
  local before after
  before=$(openssl x509 -in /var/lib/ganeti/client.pem -noout -fingerprint -sha1 2>/dev/null)
  run_clean 300 gnt-cluster renew-crypto --new-node-certificates -f || return 1
  after=$(openssl x509 -in /var/lib/ganeti/client.pem -noout -fingerprint -sha1 2>/dev/null)
  [ -n "$after" ] && [ "$before" != "$after" ] || fail "client certificate unchanged" || return 1
  # The daemon must accept the new client certificate.
  check_verify renew-crypto after-renew
}

scenario_watcher_pause() {
  need_cluster || return 1
  run_clean 60 gnt-cluster watcher pause 1h || return 1
  run_clean 60 gnt-cluster watcher info || return 1
  grep -q "is paused until" "$OUT" || fail "watcher info after pause: $(last_line)" || return 1
  run_clean 60 gnt-cluster watcher continue || return 1
  run_clean 60 gnt-cluster watcher info || return 1
  grep -q "is not paused" "$OUT" || fail "watcher info after continue: $(last_line)" || return 1
}

scenario_debug_delay() {
  need_cluster || return 1
  run_clean 120 gnt-debug delay -n "$NODE" 1
}

# Post hooks of cluster verify, run on the node by hooks_runner: one leaves
# a mark file with its GANETI_* environment, one fails with some output,
# which verify must report (so the daemon returned the hook's status and
# output).
scenario_hook() {
  need_cluster || return 1
  local dir=/etc/ganeti/hooks/cluster-verify-post.d mark=/run/e2e/hook-mark
  mkdir -p "$dir"
  rm -f "$mark"
  cat >"$dir/50-e2e-mark" <<EOF
#!/bin/sh
env | grep '^GANETI_' | sort >$mark.tmp
mv $mark.tmp $mark
EOF
  printf '#!/bin/sh\necho "e2e hook output"\nexit 1\n' >"$dir/60-e2e-fail"
  chmod 755 "$dir/50-e2e-mark" "$dir/60-e2e-fail"
  gnt 300 gnt-cluster verify
  local rc=$?
  rm -f "$dir/50-e2e-mark" "$dir/60-e2e-fail"
  [ $rc -ne 124 ] || fail "gnt-cluster verify timed out" || return 1
  [ -f "$mark" ] || fail "hook did not run (no mark file): $(last_line)" || return 1
  cp "$mark" "$RESULTS/hook-env-$NODED.txt"
  local v
  for v in GANETI_HOOKS_PHASE=post GANETI_HOOKS_PATH=cluster-verify \
           GANETI_OP_CODE=OP_CLUSTER_VERIFY_GROUP "GANETI_MASTER=$NODE"; do
    grep -qx "$v" "$mark" || fail "no $v in the hook's environment" || return 1
  done
  grep -q "Script cluster-verify-post.d/60-e2e-fail failed, output:" "$OUT" ||
    fail "verify did not report the failing hook: $(last_line)" || return 1
  grep -q "e2e hook output" "$OUT" || fail "the failing hook's output is not in verify's report" || return 1
}

# The test OS definitions, all with the same recording script
# (test_os_script): e2eos (variant default, no parameters) and e2evar
# (variants alpha and beta, parameters color and size). Every script call
# appends a line to $OS_LOG: the script's name and the OS environment it got
# (OS_*, INSTANCE_NAME, OLD_INSTANCE_NAME, DISK_COUNT, OSP_*). create writes
# "e2e-create <n> <instance>" at the start of the first disk, n counting the
# create calls so far; rename writes "e2e-rename <old> <new>" at byte 512;
# verify refuses color=invalid; export streams $EXPORT_DEVICE to stdout and
# writes its size in bytes to fd $EXP_SIZE_FD when given; import writes
# stdin to $IMPORT_DEVICE (keeping it sparse: the disk is new).
OS_DIR=/srv/ganeti/os
OS_LOG=/run/e2e/os-calls.log

test_os_script() {
  echo '#!/bin/sh'
  echo "log=$OS_LOG"
  cat <<'EOF'
script=${0##*/}
vars=$(env | grep -E '^(OS_API_VERSION|OS_NAME|OS_VARIANT|INSTANCE_NAME|OLD_INSTANCE_NAME|DISK_COUNT|OSP_[A-Z0-9_]+|EXPORT_INDEX|IMPORT_INDEX)=' |
  LC_ALL=C sort | tr '\n' ' ')
echo "$script $vars" >>$log
case $script in
  create)
    n=$(grep -c '^create ' $log)
    [ -z "${DISK_0_PATH:-}" ] ||
      printf 'e2e-create %s %s\n' "$n" "$INSTANCE_NAME" | dd of="$DISK_0_PATH" conv=notrunc 2>/dev/null ;;
  rename)
    [ -z "${DISK_0_PATH:-}" ] ||
      printf 'e2e-rename %s %s\n' "$OLD_INSTANCE_NAME" "$INSTANCE_NAME" |
        dd of="$DISK_0_PATH" bs=512 seek=1 conv=notrunc 2>/dev/null ;;
  export)
    # /dev/fd: dash takes only one-digit descriptors after >&.
    [ -z "${EXP_SIZE_FD:-}" ] || stat -c %s "$EXPORT_DEVICE" >/dev/fd/"$EXP_SIZE_FD" || exit 1
    exec cat "$EXPORT_DEVICE" ;;
  import)
    exec dd of="$IMPORT_DEVICE" bs=1M iflag=fullblock conv=sparse,notrunc status=none ;;
  verify)
    if [ "${OSP_COLOR:-}" = invalid ]; then
      echo "e2e verify: color 'invalid' refused" >&2
      exit 1
    fi ;;
esac
exit 0
EOF
}

ensure_test_os() {
  local os s
  [ -f "$OS_DIR/e2evar/verify" ] && return 0
  for os in e2eos e2evar; do
    mkdir -p "$OS_DIR/$os"
    echo 20 >"$OS_DIR/$os/ganeti_api_version"
    for s in create import export rename verify; do
      test_os_script >"$OS_DIR/$os/$s"
      chmod 755 "$OS_DIR/$os/$s"
    done
  done
  echo default >"$OS_DIR/e2eos/variants.list"
  : >"$OS_DIR/e2eos/parameters.list"
  printf '%s\n' alpha beta >"$OS_DIR/e2evar/variants.list"
  printf '%s\n' "color The guest's colour" "size Root partition size" >"$OS_DIR/e2evar/parameters.list"
}

# disk_mark FILE [OFFSET]: the first line of FILE from byte OFFSET on (the
# test OS's marks).
disk_mark() {
  dd if="$1" bs=512 skip="${2:-0}" count=1 2>/dev/null | head -n1 | tr -d '\0'
}

# add_instance NAME TEMPLATE [gnt-instance add options...]: a fake instance
# of e2eos+default, or of $ADD_OS.
add_instance() {
  local name=$1 template=$2; shift 2
  ensure_test_os
  run_clean 300 gnt-instance add -t "$template" "$@" -o "${ADD_OS:-e2eos+default}" -H fake -B memory=128M \
    --no-ip-check --no-name-check -n "$NODE" "$name"
}

# remove_instance NAME: remove it, whatever state it is in.
remove_instance() {
  gnt 30 gnt-instance list --no-headers -o name "$1" && grep -qx "$1" "$OUT" &&
    gnt 120 gnt-instance remove -f --ignore-failures --shutdown-timeout=5 "$1"
  return 0
}

scenario_instance_diskless() {
  need_cluster || return 1
  local i=inst1.example.com
  add_instance $i diskless || { remove_instance $i; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status,oper_ram $i || { remove_instance $i; return 1; }
  grep -qE "^$i +running +128M" "$OUT" || { fail "not running with 128M: $(last_line)"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance shutdown --timeout=5 $i &&
    run_clean 120 gnt-instance startup $i &&
    run_clean 120 gnt-instance reboot --type=hard --shutdown-timeout=5 $i &&
    run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
}

# file_instance_scenario TEMPLATE DIR: add an instance with a 1 GiB disk of
# that template, check its disk file and path, grow it, remove it.
file_instance_scenario() {
  local template=$1 dir=$2 i=inst2.example.com
  need_cluster || return 1
  add_instance $i "$template" --disk 0:size=1G || { remove_instance $i; return 1; }
  local file
  file=$(find "$dir/$i" -type f -name '*disk0' | head -n1)
  [ -n "$file" ] || { fail "no disk file under $dir/$i"; remove_instance $i; return 1; }
  [ "$(stat -c %s "$file")" = $((1024 * 1024 * 1024)) ] || { fail "disk file is $(stat -c %s "$file") bytes"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance info $i || { remove_instance $i; return 1; }
  grep -qF "$file" "$OUT" || { fail "gnt-instance info does not show $file"; remove_instance $i; return 1; }
  run_clean 300 gnt-instance grow-disk $i 0 512M || { remove_instance $i; return 1; }
  [ "$(stat -c %s "$file")" = $((1536 * 1024 * 1024)) ] || { fail "after grow-disk the file is $(stat -c %s "$file") bytes"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
  [ ! -e "$file" ] || fail "disk file left after remove: $file" || return 1
  [ ! -e "$dir/$i" ] || fail "instance directory left after remove: $dir/$i" || return 1
}

scenario_instance_file() { file_instance_scenario file "$FILE_DIR"; }
scenario_instance_sharedfile() { file_instance_scenario sharedfile "$SHARED_DIR"; }

scenario_list_storage() {
  need_cluster || return 1
  run_clean 60 gnt-node list-storage -t file || return 1
  grep -qF "$FILE_DIR" "$OUT" || fail "list-storage does not show $FILE_DIR: $(last_line)"
}

scenario_verify_disks() {
  need_cluster || return 1
  local i=inst3.example.com
  add_instance $i file --disk 0:size=1G || { remove_instance $i; return 1; }
  run_clean 120 gnt-cluster verify-disks || { remove_instance $i; return 1; }
  run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
}

# The test OSes in gnt-os list (one line per variant), info (variants and
# parameters) and diagnose; an OS with a script that is not executable shows
# as invalid with the reason, and list leaves it out.
scenario_os_list() {
  need_cluster || return 1
  ensure_test_os
  local broken=$OS_DIR/e2ebroken rc
  rm -rf "$broken"
  run_clean 60 gnt-os list --no-headers || return 1
  local want
  for want in e2eos+default e2evar+alpha e2evar+beta; do
    grep -qx "$want" "$OUT" || fail "gnt-os list lacks $want: $(last_line)" || return 1
  done
  run_clean 60 gnt-os info e2evar || return 1
  cat >/run/e2e/os-info.want <<EOF
e2evar:
  - valid: True
  - hidden: False
  - blacklisted: False
  - API versions:
    - 20
  - variants:
    - alpha
    - beta
  - parameters:
    - color: The guest's colour
    - size: Root partition size
  - trusted: True
EOF
  sed -n '/^e2evar:$/,/^$/p' "$OUT" | sed '/^$/d' | diff -u /run/e2e/os-info.want - >>"$SCENARIO_LOG" ||
    fail "gnt-os info e2evar differs from the definition (diff in the log)" || return 1
  # Ganeti 3.0.2 names the node by its UUID here.
  run_clean 60 gnt-os diagnose || return 1
  sed -i -E 's/^  Node: [^,]+, /  Node: <node>, /' "$OUT"
  for want in "OS: e2evar [global status: valid]" "  Variants: [alpha, beta]" \
      "  Node: <node>, status: valid (path: $OS_DIR/e2evar) [API versions: 20] [variants: alpha, beta] [parameters: color, size] [trusted]" \
      "OS: e2eos [global status: valid]" \
      "  Node: <node>, status: valid (path: $OS_DIR/e2eos) [API versions: 20] [variants: default] [no parameters] [trusted]"; do
    grep -qxF "$want" "$OUT" || fail "gnt-os diagnose lacks '$want'" || return 1
  done
  # A broken definition: its verify script is not executable.
  cp -a "$OS_DIR/e2eos" "$broken"
  chmod 644 "$broken/verify"
  gnt 60 gnt-os diagnose; rc=$?
  rm -rf "$broken"
  sed -i -E 's/^  Node: [^,]+, /  Node: <node>, /' "$OUT"
  [ $rc -eq 1 ] || fail "gnt-os diagnose with a broken OS exited $rc, not 1" || return 1
  for want in "OS: e2ebroken [global status: invalid]" \
      "  Node: <node>, status: invalid - File 'verify' under path '$broken' is not executable (path: $broken) [no API versions declared] [trusted]"; do
    grep -qxF "$want" "$OUT" || fail "gnt-os diagnose lacks '$want'" || return 1
  done
  grep -qxF "OS: e2evar [global status: valid]" "$OUT" || fail "gnt-os diagnose with a broken OS lost e2evar" || return 1
  run_clean 60 gnt-os list --no-headers || return 1
  ! grep -q e2ebroken "$OUT" || fail "gnt-os list shows the broken OS" || return 1
}

# Hypervisors the node cannot run here (Xen, LXC, chroot; no Xen is
# installed): enabling them and giving an OS parameters for them is checked
# by the node with Ganeti's messages. The cluster's hypervisors and the
# OS's parameters are restored whatever happens.
scenario_hv_params_other() {
  need_cluster || return 1
  ensure_test_os
  local rc=0
  hv_params_other_checks || rc=1
  local reason=$REASON
  gnt 60 gnt-os modify -H -xen-pvm -H -xen-hvm e2eos
  if ! run_clean 120 gnt-cluster modify --enabled-hypervisors=fake,kvm; then
    [ $rc -ne 0 ] || reason="restoring the hypervisors: $REASON"
    rc=1
  elif ! gnt 60 gnt-cluster info || ! grep -qx 'Enabled hypervisors: fake, kvm' "$OUT" ||
      sed -n '/^OS-specific hypervisor parameters:/,/^OS parameters:/p' "$OUT" | grep -q e2eos; then
    [ $rc -ne 0 ] || reason="gnt-cluster info: hypervisors or e2eos's parameters not restored"
    rc=1
  fi
  REASON=$reason
  return $rc
}

hv_params_other_checks() {
  local xen=/run/e2e/xen want
  mkdir -p "$xen"
  : >"$xen/vmlinuz"; : >"$xen/hvmloader"; : >"$xen/qemu-dm"; echo secret >"$xen/vnc-password"
  # Ganeti's default Xen kernel is not on this node: the node says so.
  gnt 120 gnt-cluster modify --enabled-hypervisors=fake,kvm,xen-pvm &&
    { fail "enabling xen-pvm with its default kernel (not on the node) succeeded"; return 1; }
  want="Hypervisor parameter validation failed on node $NODE: Parameter 'kernel_path' fails validation: not found or not a file (current value: '/boot/vmlinuz-3-xenU')"
  grep -qF "$want" "$OUT" || fail "enabling xen-pvm: not '$want' but: $(last_line)" || return 1
  run_clean 120 gnt-cluster modify --enabled-hypervisors=fake,kvm,xen-pvm,xen-hvm,lxc,chroot \
    -H "xen-pvm:kernel_path=$xen/vmlinuz" \
    -H "xen-hvm:kernel_path=$xen/hvmloader,device_model=$xen/qemu-dm,vnc_password_file=$xen/vnc-password" \
    -H lxc:num_ttys=4 -H chroot:init_script=/sbin/init || return 1
  run_clean 120 gnt-os modify -H xen-pvm:root_path=/dev/sda5 -H xen-hvm:acpi=False,pae=True e2eos || return 1
  run_clean 60 gnt-cluster info || return 1
  sed -n '/^OS-specific hypervisor parameters:/,/^OS parameters:/p' "$OUT" >/run/e2e/os-hvp.txt
  for want in "root_path: /dev/sda5" "acpi: False" "pae: True"; do
    grep -qF "$want" /run/e2e/os-hvp.txt || fail "gnt-cluster info: e2eos's hypervisor parameters lack '$want'" || return 1
  done
  # A file the node does not have: refused by the node.
  gnt 120 gnt-os modify -H xen-hvm:device_model=/nonexistent/qemu-dm e2eos &&
    { fail "gnt-os modify with a missing xen-hvm device model succeeded"; return 1; }
  want="Hypervisor parameter validation failed on node $NODE: Parameter 'device_model' fails validation: not found or not a file (current value: '/nonexistent/qemu-dm')"
  grep -qF "$want" "$OUT" || fail "missing device model: not '$want' but: $(last_line)" || return 1
  # A bad value: refused by the master's syntax check before the node.
  gnt 120 gnt-os modify -H xen-hvm:boot_order=cdx e2eos &&
    { fail "gnt-os modify with boot order cdx succeeded"; return 1; }
  want="Parameter 'boot_order' fails syntax check: Invalid boot order specified, must be one or more of [acdn] (current value: 'cdx')"
  grep -qF "$want" "$OUT" || fail "boot order cdx: not '$want' but: $(last_line)" || return 1
}

# os_calls SCRIPT INSTANCE: the test OS's log lines for that script and
# instance.
os_calls() {
  grep "^$1 .* INSTANCE_NAME=$2 " "$OS_LOG" 2>/dev/null
}

# os_env_has LINE VAR=VALUE...: the logged call had all these variables.
os_env_has() {
  local line=" $1 " v; shift
  for v in "$@"; do [[ $line == *" $v "* ]] || return 1; done
}

# Reinstall a stopped file instance of e2evar: plain (same OS, variant and
# parameters), with another variant and parameters (-o, -O), and with a
# parameter the OS's verify script refuses. Each reinstall runs the create
# script again with the instance's OS environment and rewrites the disk.
scenario_instance_reinstall() {
  need_cluster || return 1
  local i=inst6.example.com file mark n0 line
  ADD_OS=e2evar+alpha add_instance $i file --disk 0:size=1G -O color=red || { remove_instance $i; return 1; }
  file=$(find "$FILE_DIR/$i" -type f -name '*disk0' | head -n1)
  [ -n "$file" ] || { fail "no disk file under $FILE_DIR/$i"; remove_instance $i; return 1; }
  line=$(os_calls create $i | tail -n1)
  os_env_has "$line" OS_VARIANT=alpha OSP_COLOR=red || { fail "create's environment: ${line:-no create call}"; remove_instance $i; return 1; }
  mark=$(disk_mark "$file")
  [[ $mark == "e2e-create "*" $i" ]] || { fail "no create mark on the disk: '$mark'"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance shutdown --timeout=5 $i || { remove_instance $i; return 1; }

  n0=$(os_calls create $i | wc -l)
  run_clean 300 gnt-instance reinstall -f $i || { remove_instance $i; return 1; }
  [ "$(os_calls create $i | wc -l)" = $((n0 + 1)) ] || { fail "reinstall did not run create once"; remove_instance $i; return 1; }
  line=$(os_calls create $i | tail -n1)
  os_env_has "$line" OS_NAME=e2evar OS_VARIANT=alpha OSP_COLOR=red || { fail "reinstall's create environment: $line"; remove_instance $i; return 1; }
  [ "$(disk_mark "$file")" != "$mark" ] || { fail "disk mark unchanged after reinstall: '$mark'"; remove_instance $i; return 1; }
  mark=$(disk_mark "$file")

  run_clean 300 gnt-instance reinstall -f -o e2evar+beta -O color=blue,size=2G $i || { remove_instance $i; return 1; }
  [ "$(os_calls create $i | wc -l)" = $((n0 + 2)) ] || { fail "reinstall -o -O did not run create once"; remove_instance $i; return 1; }
  line=$(os_calls create $i | tail -n1)
  os_env_has "$line" OS_NAME=e2evar OS_VARIANT=beta OSP_COLOR=blue OSP_SIZE=2G || { fail "reinstall -o -O create environment: $line"; remove_instance $i; return 1; }
  [ "$(disk_mark "$file")" != "$mark" ] || { fail "disk mark unchanged after reinstall -o -O"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,os $i || { remove_instance $i; return 1; }
  grep -qE "^$i +e2evar\+beta$" "$OUT" || { fail "OS after reinstall -o: $(last_line)"; remove_instance $i; return 1; }

  # The OS's verify script refuses color=invalid: no reinstall.
  gnt 300 gnt-instance reinstall -f -O color=invalid $i && { fail "reinstall with a refused parameter succeeded"; remove_instance $i; return 1; }
  grep -q "e2e verify: color 'invalid' refused" "$OUT" || { fail "verify's refusal not reported: $(last_line)"; remove_instance $i; return 1; }
  [ "$(os_calls create $i | wc -l)" = $((n0 + 2)) ] || { fail "create ran despite the refused parameter"; remove_instance $i; return 1; }

  run_clean 120 gnt-instance startup $i &&
    run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
}

# Rename a stopped file instance: Ganeti moves its directory, the OS rename
# script runs with INSTANCE_NAME and OLD_INSTANCE_NAME and sees the disk at
# its new path, the disk keeps its content.
scenario_instance_rename() {
  need_cluster || return 1
  local old=inst7.example.com new=inst8.example.com file base mark line
  add_instance $old file --disk 0:size=1G || { remove_instance $old; return 1; }
  file=$(find "$FILE_DIR/$old" -type f -name '*disk0' | head -n1)
  [ -n "$file" ] || { fail "no disk file under $FILE_DIR/$old"; remove_instance $old; return 1; }
  base=${file##*/}
  mark=$(disk_mark "$file")
  run_clean 120 gnt-instance shutdown --timeout=5 $old || { remove_instance $old; return 1; }
  run_clean 300 gnt-instance rename --no-ip-check $old $new || { remove_instance $old; remove_instance $new; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name || { remove_instance $new; return 1; }
  grep -qx $new "$OUT" || { fail "$new not listed: $(last_line)"; remove_instance $old; remove_instance $new; return 1; }
  ! grep -qx $old "$OUT" || { fail "$old still listed"; remove_instance $old; remove_instance $new; return 1; }
  line=$(os_calls rename $new | tail -n1)
  os_env_has "$line" INSTANCE_NAME=$new OLD_INSTANCE_NAME=$old OS_NAME=e2eos OS_VARIANT=default ||
    { fail "rename script's environment: ${line:-no rename call}"; remove_instance $new; return 1; }
  [ ! -e "$FILE_DIR/$old" ] || { fail "$FILE_DIR/$old still there"; remove_instance $new; return 1; }
  file=$FILE_DIR/$new/$base
  [ -f "$file" ] || { fail "no $file after rename"; remove_instance $new; return 1; }
  [ "$(disk_mark "$file")" = "$mark" ] || { fail "disk content changed: '$(disk_mark "$file")'"; remove_instance $new; return 1; }
  [ "$(disk_mark "$file" 1)" = "e2e-rename $old $new" ] || { fail "no rename mark on the disk: '$(disk_mark "$file" 1)'"; remove_instance $new; return 1; }
  run_clean 60 gnt-instance info $new || { remove_instance $new; return 1; }
  grep -qF "$file" "$OUT" || { fail "gnt-instance info does not show $file"; remove_instance $new; return 1; }
  run_clean 120 gnt-instance startup $new &&
    run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $new || { remove_instance $new; return 1; }
  [ ! -e "$FILE_DIR/$new" ] || fail "$FILE_DIR/$new left after remove"
}

# check_export INSTANCE DISK: gnt-backup list shows the export on $NODE; its
# config.ini has the sections FinalizeExport writes, names the instance and
# its OS, and its disk0_dump file holds the same bytes as DISK. Sets
# EXPORT_DUMP.
EXPORT_DIR=/var/lib/ganeti/export
check_export() {
  local i=$1 disk=$2 conf=$EXPORT_DIR/$1/config.ini sect dump
  run_clean 60 gnt-backup list --no-headers || return 1
  grep -qxE "$NODE +$i" "$OUT" || fail "gnt-backup list does not show $i on $NODE: $(last_line)" || return 1
  [ -f "$conf" ] || fail "no $conf" || return 1
  cp "$conf" "$RESULTS/export-config-$NODED.ini"
  for sect in export instance hypervisor backend os os_private; do
    grep -qx "\[$sect\]" "$conf" || fail "config.ini has no [$sect] section" || return 1
  done
  grep -qx "name = $i" "$conf" || fail "config.ini does not name $i" || return 1
  grep -qx "os = e2eos+default" "$conf" || fail "config.ini does not name the OS e2eos+default" || return 1
  grep -qx "compression = none" "$conf" || fail "config.ini: no 'compression = none'" || return 1
  grep -qx "disk_count = 1" "$conf" || fail "config.ini: no 'disk_count = 1'" || return 1
  dump=$(sed -n 's/^disk0_dump = //p' "$conf")
  [ -n "$dump" ] && [ -f "$EXPORT_DIR/$i/$dump" ] || fail "no disk0_dump file (${dump:-no disk0_dump in config.ini})" || return 1
  EXPORT_DUMP=$EXPORT_DIR/$i/$dump
  [ "$(stat -c %s "$EXPORT_DUMP")" = "$(stat -c %s "$disk")" ] ||
    fail "disk0 dump is $(stat -c %s "$EXPORT_DUMP") bytes, the disk $(stat -c %s "$disk")" || return 1
  cmp "$disk" "$EXPORT_DUMP" >>"$SCENARIO_LOG" 2>&1 || fail "disk0 dump differs from the disk" || return 1
}

# gnt-backup on a file instance of e2eos: a live export (--noshutdown) is
# refused, as file disks have no snapshots; an export of the running
# instance with --long-sleep (shut down, copied, started again); an export
# of the stopped instance with gzip on the wire, replacing the first; the
# source instance removed, then imported under a new name (gzip again; the
# OS's rename script runs after import): the OS's export and import scripts
# stream the disk, which keeps its bytes; gnt-backup remove.
scenario_backup() {
  need_cluster || return 1
  local i=inst12.example.com new=inst13.example.com file mark line newfile rc
  backup_cleanup() { remove_instance $i; remove_instance $new; gnt 120 gnt-backup remove $i; rm -rf "${EXPORT_DIR:?}/$i"; }
  add_instance $i file --disk 0:size=1G || { backup_cleanup; return 1; }
  file=$(find "$FILE_DIR/$i" -type f -name '*disk0' | head -n1)
  [ -n "$file" ] || { fail "no disk file under $FILE_DIR/$i"; backup_cleanup; return 1; }
  mark=$(disk_mark "$file")
  [[ $mark == "e2e-create "*" $i" ]] || { fail "no create mark on the disk: '$mark'"; backup_cleanup; return 1; }
  # Something past the first MiB, so that the copy is checked beyond the mark.
  printf 'e2e-backup %s\n' $i | dd of="$file" bs=1M seek=700 conv=notrunc status=none

  gnt 300 gnt-backup export --noshutdown -n "$NODE" $i; rc=$?
  [ $rc -ne 0 ] || { fail "a live export of a file instance succeeded"; backup_cleanup; return 1; }
  grep -q "Not all disks could be snapshotted, and you requested a live export" "$OUT" ||
    { fail "live export refused otherwise: $(last_line)"; backup_cleanup; return 1; }

  run_clean 600 gnt-backup export --long-sleep -n "$NODE" $i || { backup_cleanup; return 1; }
  [ "$(os_calls export $i | wc -l)" = 1 ] || { fail "export script ran $(os_calls export $i | wc -l) times, not once"; backup_cleanup; return 1; }
  line=$(os_calls export $i)
  os_env_has "$line" EXPORT_INDEX=0 OS_NAME=e2eos OS_VARIANT=default || { fail "export script's environment: $line"; backup_cleanup; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status $i || { backup_cleanup; return 1; }
  grep -qE "^$i +running$" "$OUT" || { fail "not running again after the export: $(last_line)"; backup_cleanup; return 1; }
  check_export $i "$file" || { backup_cleanup; return 1; }

  run_clean 120 gnt-instance shutdown --timeout=5 $i || { backup_cleanup; return 1; }
  run_clean 600 gnt-backup export --transport-compression=gzip -n "$NODE" $i || { backup_cleanup; return 1; }
  [ "$(os_calls export $i | wc -l)" = 2 ] || { fail "second export: export script ran $(os_calls export $i | wc -l) times in all"; backup_cleanup; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status $i || { backup_cleanup; return 1; }
  grep -qE "^$i +ADMIN_down$" "$OUT" || { fail "not stopped after exporting a stopped instance: $(last_line)"; backup_cleanup; return 1; }
  check_export $i "$file" || { backup_cleanup; return 1; }
  [ "$(find "$EXPORT_DIR" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] ||
    { fail "export directory holds more than $i: $(ls "$EXPORT_DIR" | tr '\n' ' ')"; backup_cleanup; return 1; }

  # The export outlives its instance; the import takes its MAC, disks and OS.
  run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $i || { backup_cleanup; return 1; }
  run_clean 600 gnt-backup import -n "$NODE" --src-node="$NODE" --src-dir="$EXPORT_DIR/$i" -t file \
    --compress=gzip --no-ip-check --no-name-check $new || { backup_cleanup; return 1; }
  [ "$(os_calls import $new | wc -l)" = 1 ] || { fail "import script ran $(os_calls import $new | wc -l) times, not once"; backup_cleanup; return 1; }
  line=$(os_calls import $new)
  os_env_has "$line" IMPORT_INDEX=0 OS_NAME=e2eos OS_VARIANT=default || { fail "import script's environment: $line"; backup_cleanup; return 1; }
  [ -z "$(os_calls create $new)" ] || { fail "create ran for the imported instance"; backup_cleanup; return 1; }
  newfile=$(find "$FILE_DIR/$new" -type f -name '*disk0' | head -n1)
  [ -n "$newfile" ] || { fail "no disk file under $FILE_DIR/$new"; backup_cleanup; return 1; }
  [ "$(stat -c %s "$newfile")" = $((1024 * 1024 * 1024)) ] || { fail "imported disk is $(stat -c %s "$newfile") bytes"; backup_cleanup; return 1; }
  [ "$(disk_mark "$newfile")" = "$mark" ] || { fail "imported disk's mark: '$(disk_mark "$newfile")', not '$mark'"; backup_cleanup; return 1; }
  # Under a new name the import runs the OS rename script too, which marks
  # the second sector; the rest is the export's.
  line=$(os_calls rename $new | tail -n1)
  os_env_has "$line" INSTANCE_NAME=$new OLD_INSTANCE_NAME=$i || { fail "rename after import: ${line:-no rename call}"; backup_cleanup; return 1; }
  [ "$(disk_mark "$newfile" 1)" = "e2e-rename $i $new" ] || { fail "no rename mark on the imported disk: '$(disk_mark "$newfile" 1)'"; backup_cleanup; return 1; }
  cmp -n 512 "$EXPORT_DUMP" "$newfile" >>"$SCENARIO_LOG" 2>&1 &&
    cmp -i 1024 "$EXPORT_DUMP" "$newfile" >>"$SCENARIO_LOG" 2>&1 || { fail "imported disk differs from the export"; backup_cleanup; return 1; }
  # gnt-backup import does not start the instance.
  run_clean 60 gnt-instance list --no-headers -o name,status,os $new || { backup_cleanup; return 1; }
  grep -qE "^$new +ADMIN_down +e2eos\+default$" "$OUT" || { fail "imported instance: $(last_line)"; backup_cleanup; return 1; }
  run_clean 120 gnt-instance startup $new || { backup_cleanup; return 1; }

  run_clean 120 gnt-backup remove $i || { backup_cleanup; return 1; }
  [ ! -e "$EXPORT_DIR/$i" ] || { fail "$EXPORT_DIR/$i left after gnt-backup remove"; backup_cleanup; return 1; }
  run_clean 60 gnt-backup list --no-headers || { backup_cleanup; return 1; }
  [ -z "$(grep -v '^[[:space:]]*$' "$OUT")" ] || { fail "gnt-backup list after remove: $(last_line)"; backup_cleanup; return 1; }
  run_clean 120 gnt-instance remove -f --shutdown-timeout=5 $new || { backup_cleanup; return 1; }
}

# A KVM instance on a blank 1 GiB file disk with one bridged NIC. With no
# guest OS it never answers ACPI, so shutdowns use short timeouts.
scenario_instance_kvm() {
  need_cluster || return 1
  local i=inst4.example.com
  ensure_test_os
  run_clean 300 gnt-instance add -t file --disk 0:size=1G -o e2eos+default -H kvm -B minmem=64M,maxmem=128M \
    --no-ip-check --no-name-check -n "$NODE" $i || { remove_instance $i; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status,oper_ram $i || { remove_instance $i; return 1; }
  grep -qE "^$i +running" "$OUT" || { fail "not running: $(last_line)"; remove_instance $i; return 1; }
  pgrep -f -- "-name $i" >/dev/null || { fail "no qemu process for $i"; remove_instance $i; return 1; }
  # Kill the node daemon outright and start it again: the instance keeps
  # running and is managed as before.
  local qpid
  qpid=$(pgrep -f -- "-name $i")
  pkill -KILL -f /usr/sbin/ganeti-noded
  sleep 1
  gnt 60 /usr/lib/ganeti/daemon-util start ganeti-noded || { fail "node daemon did not restart: $(last_line)"; remove_instance $i; return 1; }
  [ "$(pgrep -f -- "-name $i")" = "$qpid" ] || { fail "qemu did not survive the node daemon's restart"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status $i || { remove_instance $i; return 1; }
  grep -qE "^$i +running" "$OUT" || { fail "not running after the daemon restart: $(last_line)"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance console --show-cmd $i || { remove_instance $i; return 1; }
  grep -q "kvm-console-wrapper" "$OUT" || { fail "console command lacks kvm-console-wrapper: $(last_line)"; remove_instance $i; return 1; }
  # The same command as Ganeti's Python daemon gives (no -oPort= when
  # neither the node nor its group sets ssh_port).
  cp "$OUT" "$OUT.console"
  gnt 60 python3 "$E2E_DIR/console-cmd.py" $i || { fail "console-cmd.py: $(last_line)"; remove_instance $i; return 1; }
  cmp -s "$OUT" "$OUT.console" || { fail "console command differs from Python's: $(head -c 300 "$OUT.console") != $(head -c 300 "$OUT")"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance modify --runtime-memory 96M $i || { remove_instance $i; return 1; }
  # Live data: the memory qemu reports (a guest without a balloon driver
  # keeps 128M) and the state the node reports.
  run_clean 60 gnt-instance list --no-headers -o oper_ram $i || { remove_instance $i; return 1; }
  grep -qE '^ *(96|128)M' "$OUT" || { fail "no live memory: $(last_line)"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance info $i || { remove_instance $i; return 1; }
  grep -qF "actual state is up" "$OUT" || { fail "gnt-instance info lacks the live state"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance modify --hotplug --net add:link=$BRIDGE $i || { remove_instance $i; return 1; }
  grep -q "Hotplug done" "$OUT" || { fail "NIC not hot-plugged: $(last_line)"; remove_instance $i; return 1; }
  run_clean 120 gnt-instance shutdown --timeout=5 $i &&
    run_clean 120 gnt-instance startup $i &&
    run_clean 180 gnt-instance reboot --type=soft --shutdown-timeout=5 $i &&
    run_clean 180 gnt-instance reboot --type=hard --shutdown-timeout=5 $i &&
    run_clean 180 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
  ! pgrep -f -- "-name $i" >/dev/null || fail "qemu still running after remove"
}

# qemu_monitor INSTANCE COMMAND: a command on the KVM instance's human
# monitor, through gnt (output in $OUT).
qemu_monitor() {
  gnt 30 sh -c "echo '$2' | socat -t 2 - UNIX-CONNECT:/run/ganeti/kvm-hypervisor/ctrl/$1.monitor"
}

# Hot-plug a second disk into a running KVM instance: Ganeti shows it and
# qemu has the drive (disk-<first 18 characters of the disk's UUID>, on an
# fd set). The guest has no OS, so it never releases the PCI device:
# hot-unplugging fails after drive_del (the Python daemon: "Device ... should
# have been removed but is still there"); Ganeti warns, goes on and removes
# the disk from its configuration and its file from the node, while qemu keeps
# the PCI device without its drive.
scenario_instance_kvm_disk_hotplug() {
  need_cluster || return 1
  local i=inst5.example.com disk1 id
  ensure_test_os
  run_clean 300 gnt-instance add -t file --disk 0:size=1G -o e2eos+default -H kvm -B minmem=64M,maxmem=128M \
    --no-ip-check --no-name-check -n "$NODE" $i || { remove_instance $i; return 1; }
  run_clean 180 gnt-instance modify --hotplug --disk add:size=1G $i || { remove_instance $i; return 1; }
  grep -q "Hotplug done" "$OUT" || { fail "disk not hot-plugged: $(last_line)"; remove_instance $i; return 1; }
  grep -q "disk/1 -> hotplug:done" "$OUT" || { fail "no 'disk/1 -> hotplug:done': $(last_line)"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance info $i || { remove_instance $i; return 1; }
  grep -qE '^ +- disk/1: file, size 1.0G' "$OUT" || { fail "gnt-instance info shows no disk/1 of 1.0G"; remove_instance $i; return 1; }
  disk1=$(grep -oE "on primary: $FILE_DIR/$i/[^ ]*disk1" "$OUT" | sed 's/^on primary: //')
  [ -f "$disk1" ] || { fail "no disk/1 file (${disk1:-none in gnt-instance info})"; remove_instance $i; return 1; }
  id=disk-$(awk '/- disk\/1:/ { d = 1 } d && /UUID:/ { print substr($2, 1, 18); exit }' "$OUT")
  [ ${#id} = 23 ] || { fail "no UUID for disk/1 in gnt-instance info"; remove_instance $i; return 1; }
  qemu_monitor $i "info block" || { fail "qemu monitor: $(last_line)"; remove_instance $i; return 1; }
  grep -qE "^$id \(.*\): /dev/fdset/[0-9]+ " "$OUT" || { fail "qemu has no drive $id on an fd set"; remove_instance $i; return 1; }

  gnt 180 gnt-instance modify --hotplug --disk remove $i || { fail "disk remove failed (exit $?): $(last_line)"; remove_instance $i; return 1; }
  grep -q "Could not hotplug device: .*should have been removed but is still there" "$OUT" ||
    { fail "hot-unplug did not fail as with the Python daemon: $(grep -m1 -i 'hotplug' "$OUT" | strip_time)"; remove_instance $i; return 1; }
  grep -q "disk/1 -> hotplug:failed" "$OUT" || { fail "no 'disk/1 -> hotplug:failed': $(last_line)"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance info $i || { remove_instance $i; return 1; }
  ! grep -qE '^ +- disk/1:' "$OUT" || { fail "gnt-instance info still shows disk/1"; remove_instance $i; return 1; }
  [ ! -e "$disk1" ] || { fail "disk/1 file left: $disk1"; remove_instance $i; return 1; }
  qemu_monitor $i "info block" || { fail "qemu monitor: $(last_line)"; remove_instance $i; return 1; }
  ! grep -q "^$id " "$OUT" || { fail "qemu still has the drive $id (no drive_del)"; remove_instance $i; return 1; }
  qemu_monitor $i "info pci" || { fail "qemu monitor: $(last_line)"; remove_instance $i; return 1; }
  grep -qF "id \"$id\"" "$OUT" || { fail "qemu released the PCI device $id: the guest has no OS to do so"; remove_instance $i; return 1; }
  run_clean 60 gnt-instance list --no-headers -o name,status $i || { remove_instance $i; return 1; }
  grep -qE "^$i +running" "$OUT" || { fail "not running after the hot-unplug: $(last_line)"; remove_instance $i; return 1; }
  run_clean 180 gnt-instance remove -f --shutdown-timeout=5 $i || { remove_instance $i; return 1; }
}

# Ganeti's burnin on one node: two fake instances of e2eos on file disks,
# through every step a single node allows.
scenario_burnin() {
  need_cluster || return 1
  ensure_test_os
  local a=inst9.example.com b=inst10.example.com spare=inst11.example.com
  # One node: no disk replacement, failover, migration or move.
  # --no-importexport: without it burnin would still skip the step, as it
  # exports and re-imports only plain, drbd, rbd and ext instances
  # (_IMPEXP_DISK_TEMPLATES in tools/burnin), none of which this cluster
  # has (no LVM, DRBD, RBD or ExtStorage); the flag says so. The backup
  # scenario covers export and import.
  # --no-add-disks: burnin attaches and removes a disk while the instance
  # runs, which needs hotplug; the fake hypervisor has none, so Ganeti
  # refuses ("can't remove volume from a running instance without using
  # hotplug"), with the Python daemon too.
  gnt 900 /usr/lib/ganeti/tools/burnin -o e2eos+default -t file -H fake \
    --no-name-check --no-ip-check \
    --no-replace1 --no-replace2 --no-failover --no-migrate --no-move \
    --no-importexport --no-add-disks \
    --rename $spare $a $b
  local rc=$?
  local inst
  for inst in $a $b $spare; do remove_instance $inst; done
  [ $rc -eq 0 ] || fail "burnin failed (exit $rc): $(last_line)"
}

# Optional (E2E_PROBES=1, or named in SCENARIOS): make the cluster call
# procedures the scenarios above do not, for the record of RPCs
# (TRACE=1): an OS, storage listing, master IP off and on, hypervisor
# parameter checks, a diskless and a file-disk instance on the fake
# hypervisor, and direct calls through Ganeti's own RPC client
# (e2e/rpc-probe.py) for what a one-node cluster never sends.
scenario_rpc_probes() {
  need_cluster || return 1
  ensure_test_os
  local errors=()
  probe() { run_clean "$@" || errors+=("$REASON"); }
  probe 60 gnt-os list
  probe 60 gnt-os diagnose
  probe 60 gnt-node list-storage -t file
  probe 60 gnt-node list-storage -t sharedfile
  probe 120 gnt-cluster modify -H kvm:kernel_path=
  probe 60 gnt-cluster deactivate-master-ip --yes
  probe 60 gnt-cluster activate-master-ip
  probe 300 gnt-instance add -t diskless -o e2eos+default -H fake -B memory=128M \
    --no-ip-check --no-name-check -n "$NODE" inst1.example.com
  probe 60 gnt-instance list -o name,status,oper_state,oper_ram,oper_vcpus
  probe 60 gnt-instance info inst1.example.com
  probe 120 gnt-instance reboot inst1.example.com
  probe 120 gnt-instance shutdown --timeout=5 inst1.example.com
  probe 120 gnt-instance startup inst1.example.com
  probe 60 gnt-instance console --show-cmd inst1.example.com
  # Direct calls, while inst1 runs (instance_list, all_instances_info).
  gnt 120 python3 "$E2E_DIR/rpc-probe.py" "$NODE" "$NODE_IP" || errors+=("rpc-probe.py: $(grep -m1 '^FAIL' "$OUT")")
  probe 120 gnt-instance remove -f --shutdown-timeout=5 inst1.example.com
  probe 300 gnt-instance add -t file --disk 0:size=1G -o e2eos+default -H fake -B memory=128M \
    --no-ip-check --no-name-check -n "$NODE" inst2.example.com
  probe 120 gnt-cluster verify-disks
  # The iallocator's input: node_info and all_instances_info from Python.
  # (hail then finds no N+1-safe node in a one-node cluster: that is fine;
  # --dir in would show the input but trips over a bytes/str bug of 3.0.2.)
  gnt 120 gnt-debug allocator --dir out --mode allocate --memory 128 --disks 1024 \
    -t file -o e2eos+default --vcpus 1 -I hail inst3.example.com ||
    errors+=("gnt-debug allocator: $(last_line)")
  probe 120 gnt-cluster repair-disk-sizes
  probe 120 gnt-instance remove -f --shutdown-timeout=5 inst2.example.com
  rm -f /var/lib/ganeti/queue/e2e-probe /var/lib/ganeti/queue/e2e-probe-renamed
  # Leave no instance behind for cluster-destroy, whatever failed above.
  local inst
  for inst in inst1.example.com inst2.example.com; do
    gnt 30 gnt-instance list --no-headers -o name "$inst" && grep -qx "$inst" "$OUT" &&
      gnt 120 gnt-instance remove -f --ignore-failures --shutdown-timeout=5 "$inst"
  done
  [ ${#errors[@]} -eq 0 ] || fail "${#errors[@]} probes failed, first: ${errors[0]}"
}

scenario_cluster_destroy() {
  need_cluster || return 1
  run_clean 300 gnt-cluster destroy --yes-do-it
  local rc=$? destroy_error=$REASON
  CLUSTER_UP=0
  CLUSTER_ERROR="cluster destroyed"
  [[ $destroy_error != *"failed (exit"* ]] || fail "$destroy_error" || return 1
  local f
  for f in config.data server.pem ssconf_cluster_name; do
    [ ! -e "/var/lib/ganeti/$f" ] || fail "/var/lib/ganeti/$f still there" || return 1
  done
  ! has_master_ip || fail "master IP still on $BRIDGE" || return 1
  [ $rc -eq 0 ] || fail "$destroy_error" || return 1
  # node_leave_cluster stops the node daemon.
  local i
  for i in $(seq 1 20); do
    pgrep -x ganeti-noded >/dev/null || pgrep -f /usr/sbin/ganeti-noded >/dev/null || return 0
    sleep 0.5
  done
  fail "node daemon still running after destroy"
}

# --- runner -----------------------------------------------------------------------

# RPC accounting: which procedures the node daemon served during a scenario.
# The Go daemon logs an audit line per call; the Python daemon is only
# traced with TRACE=1 (e2e/noded-trace.py).
rpc_source() {
  if [ "$NODED" = go ]; then echo /var/log/ganeti/node-daemon.log
  elif [ "$TRACE" = 1 ]; then echo /var/log/ganeti/rpc-trace.jsonl
  fi
}

rpc_offset() {
  local src; src=$(rpc_source)
  if [ -n "$src" ] && [ -f "$src" ]; then stat -c %s "$src"; else echo 0; fi
}

rpc_record() { # rpc_record NAME OFFSET
  local src out=$RESULTS/rpcs/$1.txt; src=$(rpc_source)
  [ -n "$src" ] && [ -f "$src" ] || return 0
  [ "$TRACE" = 1 ] && return 0   # counted by rpc_record_trace at the end
  tail -c +$(( $2 + 1 )) "$src" | grep -oE '"?proc"?(=|: )"[^"]*"' |
    sed -E 's/.*"([^"]*)"$/\1/' | sort | uniq -c | sort -k1,1nr -k2 >"$out"
}

# With TRACE=1 each call carries the scenario that ran when it arrived.
rpc_record_trace() {
  sleep 1   # calls in flight finish and write their record
  python3 - "$(rpc_source)" "$RESULTS/rpcs" <<'EOF'
import collections, json, sys
counts = collections.defaultdict(collections.Counter)
with open(sys.argv[1]) as f:
  for line in f:
    e = json.loads(line)
    counts[e.get("scenario") or "setup"][e["proc"]] += 1
for scen, c in counts.items():
  with open("%s/%s.txt" % (sys.argv[2], scen), "w") as out:
    for proc, n in sorted(c.items(), key=lambda x: (-x[1], x[0])):
      out.write("%7d %s\n" % (n, proc))
EOF
}

run_scenarios() {
  local selected=() name fn off
  if [ -n "${SCENARIOS:-}" ]; then
    # A selection still starts with the cluster when it needs one.
    [[ " $SCENARIOS " == *" cluster-init "* ]] || selected+=(cluster-init)
    for name in "${SCENARIO_LIST[@]}"; do
      [[ " $SCENARIOS " == *" $name "* ]] && selected+=("$name")
    done
  else
    for name in "${SCENARIO_LIST[@]}"; do
      [[ $OPTIONAL_SCENARIOS == *" $name "* ]] && [ "${E2E_PROBES:-0}" != 1 ] && continue
      selected+=("$name")
    done
  fi
  local passed=0 failed=0
  : >"$RESULTS/results.txt"
  : >"$RESULTS/durations.txt"
  for name in "${selected[@]}"; do
    fn=scenario_${name//-/_}
    SCENARIO_LOG=$RESULTS/scenarios/$name.log
    : >"$SCENARIO_LOG"
    REASON=""
    echo "$name" >/run/e2e/scenario   # read by noded-trace.py
    off=$(rpc_offset)
    local line start=$SECONDS
    if ! declare -F "$fn" >/dev/null; then
      line="FAIL $name: no function $fn"
    elif "$fn" </dev/null; then
      line="PASS $name"
    else
      line="FAIL $name: ${REASON:-failed}"
    fi
    rpc_record "$name" "$off"
    printf '%4ds %s\n' $((SECONDS - start)) "$name" >>"$RESULTS/durations.txt"
    case $line in PASS*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
    line="$line ($((SECONDS - start)) s)"
    echo "$line"
    echo "$line" >>"$RESULTS/results.txt"
  done
  echo "idle" >/run/e2e/scenario
  [ "$TRACE" = 1 ] && rpc_record_trace
  echo "$passed passed, $failed failed" | tee "$RESULTS/summary.txt"
  [ "$failed" -eq 0 ]
}
