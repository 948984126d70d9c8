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
log "node $N: stage 2"
set -x

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/sshd /run/e2e && chmod 1777 /run/lock
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
# The host's /root (dotfiles, caches) stays hidden; /var/lib/ganeti and
# /srv start empty (the overlay would show the host's).
mount -t tmpfs -o mode=700 tmpfs /root
for d in /var/lib/ganeti /srv; do mount -t tmpfs tmpfs $d; done
# Ganeti's logs go straight to the share: they survive the guest.
mkdir -p $OUTDIR/ganeti-logs
mount --bind $OUTDIR/ganeti-logs /var/log/ganeti

# No udev: load the drivers, DRBD with Ganeti's usermode helper.
for m in virtio_net virtio_blk virtio_rng dm_mod dm_snapshot tun; do modprobe $m; done
modprobe drbd minor_count=128 usermode_helper=/bin/true

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
pvcreate -ff -y /dev/vda && vgcreate "$VG" /dev/vda

# root's ssh: the test bed's key, trusted here; the host keys are the
# host's (read through the overlay), the same on every node.
mkdir -m 700 /root/.ssh
printf 'export PATH=%s\n' "$PATH" >/root/.bashrc
cp /root/.bashrc /root/.profile
cp $SHARE/ssh/id_rsa.pub /root/.ssh/authorized_keys
cp $SHARE/ssh/id_rsa /root/.ssh/id_ed25519
cp $SHARE/ssh/known_hosts /root/.ssh/known_hosts
chmod 600 /root/.ssh/*
/usr/sbin/sshd -o ListenAddress="$NET.1$N" -o PermitRootLogin=prohibit-password -o UseDNS=no -E /run/e2e/sshd.log

# File disks and exports on ext4 (the second virtio disk), not in the
# guest's memory: Ganeti's disk transfers open file disks with O_DIRECT,
# which tmpfs refuses, and an export is as large as its disks.
mkfs.ext4 -q -F /dev/vdb && mkdir -p /srv/e2e-disk && mount /dev/vdb /srv/e2e-disk
mkdir -p /srv/e2e-disk/file-storage /srv/e2e-disk/export "$FILE_DIR" /var/lib/ganeti/export
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
set +x
log "ready (uptime $(cut -d' ' -f1 /proc/uptime) s)"
cut -d' ' -f1 /proc/uptime >$OUTDIR/ready
