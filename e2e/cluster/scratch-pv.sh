#!/bin/bash
# Scratch physical volumes in a test-bed guest: device-mapper devices
# /dev/mapper/e2epv-NAME over loop files on the guest's ext4 disk, which
# the guest's LVM admits (guest-init.sh's filter). A device can fail (its
# table becomes dm's error target: LVM no longer reads its label, as with
# a dead disk) and come back, without touching xenvg.
#
# Usage: scratch-pv.sh create NAME MiB | fail NAME | restore NAME | remove NAME
set -u -o pipefail
cmd=${1:?usage: scratch-pv.sh create|fail|restore|remove NAME [MiB]}
name=${2:?NAME}
[[ $name =~ ^[a-z0-9]+$ ]] || { echo "scratch-pv.sh: bad name '$name'" >&2; exit 2; }
dev=e2epv-$name
img=/srv/e2e-disk/scratch-$name.img

# linear_table: the device's healthy table, over its loop device.
linear_table() {
  local loop
  loop=$(losetup -j "$img" -O NAME --noheadings | head -n1)
  [ -n "$loop" ] || { echo "scratch-pv.sh: no loop device for $img" >&2; return 1; }
  echo "0 $(blockdev --getsz "$loop") linear $loop 0"
}
# swap TABLE: load TABLE into the device, which stays open above it.
swap() {
  dmsetup suspend "$dev" && dmsetup load "$dev" --table "$1" && dmsetup resume "$dev"
}

case $cmd in
  create)
    mib=${3:?MiB}
    [[ $mib =~ ^[0-9]+$ ]] || { echo "scratch-pv.sh: bad size '$mib'" >&2; exit 2; }
    modprobe loop 2>/dev/null
    truncate -s "${mib}M" "$img" || exit 1
    losetup -f "$img" || exit 1
    dmsetup create "$dev" --table "$(linear_table)" || exit 1
    # dm makes /dev/dm-N; without udev, /dev/mapper's name is ours to make.
    dmsetup mknodes "$dev"
    test -b "/dev/mapper/$dev"
    ;;
  fail)
    swap "0 $(blockdev --getsz "/dev/mapper/$dev") error"
    ;;
  restore)
    swap "$(linear_table)"
    ;;
  remove)
    dmsetup remove "$dev" 2>/dev/null
    loop=$(losetup -j "$img" -O NAME --noheadings | head -n1)
    [ -n "$loop" ] && losetup -d "$loop"
    rm -f "$img"
    ! dmsetup info "$dev" >/dev/null 2>&1
    ;;
  *)
    echo "scratch-pv.sh: unknown command '$cmd'" >&2
    exit 2
    ;;
esac
