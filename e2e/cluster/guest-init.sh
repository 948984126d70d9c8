#!/bin/bash
# Stage 2 of a test-bed guest, run by busybox init on the overlay root:
# makes this guest node N (e2e.node=N on the kernel command line) of the
# test cluster. /mnt/e2e is the run's share (see run.sh): env (settings),
# hosts, ssh/ (the test bed's key), ganeti-noded (the Go daemon), shared/
# (the shared file storage), and nodeN/ where this guest leaves its logs.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SHARE=/mnt/e2e
N=0
for a in $(cat /proc/cmdline); do case $a in e2e.node=*) N=${a#e2e.node=};; esac; done
# shellcheck source=/dev/null
. $SHARE/env
eval "NODED=\${NODED_$N:-go}"
OUTDIR=$SHARE/node$N
mkdir -p $OUTDIR
exec >>$OUTDIR/guest-init.log 2>&1
log() { echo "[guest-init $(cut -d' ' -f1 /proc/uptime)] $*" | tee /dev/console; }
# A second boot in one run (a scenario powered the guest off and on) keeps
# what a real node keeps on its disks: the volume group and its volumes,
# /var/lib/ganeti, root's ssh keys; then it starts Ganeti's node daemons
# as a node's init would.
REBOOT=0
[ -e $OUTDIR/booted ] && REBOOT=1
log "node $N: stage 2 (reboot=$REBOOT)"
set -x

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/sshd /run/e2e && chmod 1777 /run/lock
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
# /srv starts empty (the overlay would show the host's); /root and
# /var/lib/ganeti come from the guest's second disk, below.
mount -t tmpfs tmpfs /srv
# Ganeti's logs go straight to the share: they survive the guest.
mkdir -p $OUTDIR/ganeti-logs
mount --bind $OUTDIR/ganeti-logs /var/log/ganeti

# No udev: load the drivers, DRBD with Ganeti's usermode helper.
for m in virtio_net virtio_blk virtio_rng dm_mod dm_snapshot tun; do modprobe $m; done
modprobe drbd minor_count=128 usermode_helper=/bin/true

# File disks and exports on ext4 (the second virtio disk), not in the
# guest's memory: Ganeti's disk transfers open file disks with O_DIRECT,
# which tmpfs refuses, and an export is as large as its disks. The host's
# /root (dotfiles, caches) stays hidden behind the disk's own.
[ $REBOOT = 1 ] || mkfs.ext4 -q -F /dev/vdb
mkdir -p /srv/e2e-disk && mount /dev/vdb /srv/e2e-disk
mkdir -p /srv/e2e-disk/file-storage /srv/e2e-disk/export /srv/e2e-disk/var-lib-ganeti
mkdir -p -m 700 /srv/e2e-disk/root
mount --bind /srv/e2e-disk/root /root
mount --bind /srv/e2e-disk/var-lib-ganeti /var/lib/ganeti

# Network: eth0 in bridge gnt0 (Ganeti's master netdev and NIC link).
hostname node$N.$DOMAIN
echo node$N.$DOMAIN >/etc/hostname
cp $SHARE/hosts /etc/hosts
ip link set lo up
ip link add gnt0 type bridge
ip link set eth0 master gnt0
ip link set eth0 up
ip addr add "$NET.1$N/24" dev gnt0
ip link set gnt0 up

# LVM without udev: libdevmapper makes /dev/mapper and /dev/VG itself.
# It sees xenvg's disk and the scenarios' scratch devices (scratch-pv.sh).
cat >>/etc/lvm/lvm.conf <<'EOT'
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
devices {
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
	filter = [ "a|^/dev/vda$|", "a|^/dev/mapper/e2epv-[a-z0-9]+$|", "r|.*|" ]
}
global {
	use_lvmpolld = 0
}
EOT
if [ $REBOOT = 1 ]; then vgchange -ay "$VG"; else pvcreate -ff -y /dev/vda && vgcreate "$VG" /dev/vda; fi

# root's ssh: the test bed's key, trusted here; the host keys are the
# host's (read through the overlay), the same on every node.
# (Ganeti changes them when the node joins; a reboot keeps its changes.)
if [ $REBOOT = 0 ]; then
  mkdir -m 700 /root/.ssh
  printf 'export PATH=%s\n' "$PATH" >/root/.bashrc
  cp /root/.bashrc /root/.profile
  cp $SHARE/ssh/id_rsa.pub /root/.ssh/authorized_keys
  cp $SHARE/ssh/id_rsa /root/.ssh/id_ed25519
  cp $SHARE/ssh/known_hosts /root/.ssh/known_hosts
  chmod 600 /root/.ssh/*
fi
/usr/sbin/sshd -o ListenAddress="$NET.1$N" -o PermitRootLogin=prohibit-password -o UseDNS=no -E /run/e2e/sshd.log

mkdir -p "$FILE_DIR" /var/lib/ganeti/export
mount --bind /srv/e2e-disk/file-storage "$FILE_DIR"
mount --bind /srv/e2e-disk/export /var/lib/ganeti/export

# Ganeti's directories, storage paths, the test OS.
/usr/lib/ganeti/ensure-dirs
chown gnt-masterd:gnt-masterd /var/lib/ganeti
mkdir -p "$SHARED_DIR" /srv/ganeti/os
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,cache=none shared "$SHARED_DIR"
printf '%s\n' "$FILE_DIR" "$SHARED_DIR" >/etc/ganeti/file-storage-paths
cp -a $SHARE/os/. /srv/ganeti/os/

# The node daemon under test.
if [ "$NODED" = go ]; then
  install -m 755 $SHARE/ganeti-noded /run/e2e/ganeti-noded
  mount --bind /run/e2e/ganeti-noded /usr/sbin/ganeti-noded
fi
/usr/sbin/ganeti-noded --version
# A node that was in the cluster before the reboot starts its daemons.
if [ $REBOOT = 1 ] && [ -e /var/lib/ganeti/server.pem ]; then
  for d in ganeti-noded ganeti-confd ganeti-mond ganeti-kvmd; do /usr/lib/ganeti/daemon-util start $d; done
fi
touch $OUTDIR/booted
set +x
log "ready (uptime $(cut -d' ' -f1 /proc/uptime) s)"
cut -d' ' -f1 /proc/uptime >$OUTDIR/ready
