#!/bin/bash
# Records real LVM output for the daemon's parsers (testdata/lvm): run as
# root in a test-bed guest (real device-mapper), on a scratch volume group
# of loop files, never on xenvg. Each command NAME leaves NAME.cmd (its
# argv, one per line), NAME.out, NAME.err and NAME.rc in OUT. The argv
# are Ganeti 3.0's for the same objects (see storage_plain.go).
#
# Usage: lvm-record.sh OUT
set -u -o pipefail
OUT=${1:?usage: lvm-record.sh OUT}
case $OUT in /mnt/e2e/*) ;; *) echo "lvm-record.sh: OUT must be below /mnt/e2e (the run's share)" >&2; exit 2 ;; esac
VG=recvg
WORK=$(mktemp -d /tmp/lvm-record.XXXXXX)
rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
modprobe loop 2>/dev/null
# The guest's LVM sees only its xenvg disk: these commands see the loop
# devices only, through a configuration of their own.
mkdir -p "$WORK/lvm" && cat >"$WORK/lvm/lvm.conf" <<'EOT'
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
devices {
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
	filter = [ "a|^/dev/loop[0-9]+$|", "r|.*|" ]
}
global {
	use_lvmpolld = 0
}
EOT
export LVM_SYSTEM_DIR=$WORK/lvm

rec() { # rec NAME argv...: run and record
  local name=$1; shift
  printf '%s\n' "$@" >"$OUT/$name.cmd"
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  echo $? >"$OUT/$name.rc"
}
quiet() { "$@" >/dev/null 2>&1; }

cleanup() {
  quiet vgchange -an $VG
  quiet vgremove -f $VG
  for l in "${LOOPS[@]}"; do quiet pvremove -ff -y "$l"; quiet losetup -d "$l"; done
  rm -rf "$WORK"
}
LOOPS=()
trap cleanup EXIT

for i in 1 2 3; do
  truncate -s 100M "$WORK/pv$i.img"
  LOOPS+=("$(losetup -f --show "$WORK/pv$i.img")") || exit 1
done
P1=${LOOPS[0]} P2=${LOOPS[1]} P3=${LOOPS[2]}
{ pvcreate "${LOOPS[@]}" && vgcreate $VG "${LOOPS[@]}"; } >"$WORK/setup.log" 2>&1 ||
  { echo "no scratch VG: $(tr '\n' ' ' <"$WORK/setup.log")"; exit 1; }

lvs_attach=(lvs --noheadings --separator=\| --units=k --nosuffix
  -ovg_name,lv_name,lv_attr,lv_kernel_major,lv_kernel_minor,vg_extent_size,stripes,devices)
pvs_info=(pvs --noheadings --nosuffix --units=m --unbuffered --separator=\|)
vgs_info=(vgs --noheadings --nosuffix --units=m --unbuffered --separator=\|
  -ovg_name,vg_free,vg_attr,vg_size)

# Create as Ganeti does: every allocatable PV, emptiest first.
rec lvcreate-linear lvcreate -Wn -L20m -nlinear -i1 $VG "$P1" "$P2" "$P3"
rec lvcreate-striped lvcreate -Wn -L40m -nstriped -i2 $VG "$P2" "$P3" "$P1"
rec lvcreate-toobig lvcreate -Wn -L1000m -nhuge -i1 $VG "$P1" "$P2" "$P3"
rec lvcreate-exists lvcreate -Wn -L20m -nlinear -i1 $VG "$P1" "$P2" "$P3"
quiet lvcreate -Wn -L8m -ninactive -i1 $VG "$P3" && quiet lvchange -an $VG/inactive
rec lvchange-activate lvchange -ay /dev/$VG/linear
rec lvchange-activate-missing lvchange -ay /dev/$VG/nosuch
rec lvs-tags-none lvs -o tags --noheadings --nosuffix /dev/$VG/linear
rec lvchange-addtag lvchange --addtag originstname+inst1.example.com /dev/$VG/linear
quiet lvchange --addtag second-tag /dev/$VG/linear
rec lvs-tags lvs -o tags --noheadings --nosuffix /dev/$VG/linear
rec lvchange-deltag lvchange --deltag second-tag /dev/$VG/linear
rec lvextend-test lvextend -L +12288k --test --alloc contiguous /dev/$VG/linear
rec lvextend lvextend -L +12288k --alloc contiguous /dev/$VG/linear
rec lvextend-toobig lvextend -L +2048000k --alloc normal /dev/$VG/linear
# A second segment on another PV: lvs prints one line per segment.
quiet lvextend -L +90m --alloc normal /dev/$VG/linear
rec lvcreate-snapshot lvcreate -L8m -s -nlinear.snap /dev/$VG/linear
rec blockdev-getsize64 blockdev --getsize64 /dev/$VG/linear
rec lvs-attach "${lvs_attach[@]}"
rec lvs-lvlist lvs --noheadings --units=m --nosuffix --separator=\| -ovg_name,lv_name,lv_size,lv_attr $VG
rec lvs-nodevolumes lvs --noheadings --units=m --nosuffix --separator=\| --options=lv_name,lv_size,devices,vg_name
rec pvs-info "${pvs_info[@]}" -opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name
rec pvs-info-lvs "${pvs_info[@]}" -opv_name,vg_name,pv_free,pv_attr,pv_size,lv_name
rec vgs-info "${vgs_info[@]}"
rec vgs-list vgs --noheadings --units m --nosuffix -o name,size
rec vgs-storage vgs --noheadings --units=m --nosuffix --separator \| --options vg_name,vg_size,vg_free
rec pvs-storage pvs --noheadings --units=m --nosuffix --separator \| --options pv_name,pv_size,pv_used,pv_free,pv_attr
rec pvchange-noalloc pvchange --allocatable n "$P3"
rec pvs-storage-noalloc pvs --noheadings --units=m --nosuffix --separator \| --options pv_name,pv_size,pv_used,pv_free,pv_attr
quiet pvchange --allocatable y "$P3"
rec lvrename lvrename $VG striped renamed
rec lvrename-exists lvrename $VG renamed linear
rec lvremove-snapshot lvremove -f $VG/linear.snap
rec lvremove-missing lvremove -f $VG/nosuch
# A PV goes missing under a volume: lvs marks it partial, vgreduce repairs.
quiet lvcreate -Wn -L20m -nonp2 -i1 $VG "$P2"
quiet vgchange -an $VG
quiet losetup -d "$P2"
LOOPS=("$P1" "$P3") # P2's number may be someone else's now
rec lvs-attach-missing-pv "${lvs_attach[@]}"
rec pvs-info-missing-pv "${pvs_info[@]}" -opv_name,vg_name,pv_free,pv_attr,pv_size,pv_name
rec vgs-info-missing-pv "${vgs_info[@]}"
rec vgreduce-removemissing vgreduce --removemissing $VG
rec vgreduce-removemissing-force vgreduce --removemissing --force $VG
rec vgs-after-repair vgs --noheadings --nosuffix $VG
rec lvs-attach-after-repair "${lvs_attach[@]}"
ls "$OUT" | sed -n 's/\.cmd$//p' | wc -l
