# Sourced by inside.sh at the end of its setup on node 1 of the cluster test
# bed (see run.sh): the test bed's ssh key and host keys, a volume group on
# the loop device $E2E_LOOP, the shared file storage.
cp "$E2E_SHARE/ssh/id_rsa" /root/.ssh/id_ed25519
chmod 600 /root/.ssh/id_ed25519
cat "$E2E_SHARE/ssh/known_hosts" >>/root/.ssh/known_hosts
cat "$E2E_SHARE/ssh/id_rsa.pub" >>/root/.ssh/authorized_keys

# LVM sees only the loop device; this kernel has no device-mapper, so the
# volume group is metadata only (node 1 holds no instances).
mkdir -p /run/e2e/etc-lvm
cp -a /etc/lvm/. /run/e2e/etc-lvm/
cat >>/run/e2e/etc-lvm/lvm.conf <<EOT
devices {
	use_devicesfile = 0
	filter = [ "a|^$E2E_LOOP\$|", "r|.*|" ]
}
global {
	use_lvmpolld = 0
}
EOT
step "/etc/lvm" mount --bind /run/e2e/etc-lvm /etc/lvm || return 1
step "pvcreate" pvcreate -ff -y "$E2E_LOOP" || return 1
step "vgcreate" vgcreate xenvg "$E2E_LOOP" || return 1

step "shared file storage" mount --bind "$E2E_SHARE/shared" "$SHARED_DIR" || return 1
# As Debian's package leaves it: gnt-backup asks every node for its
# exports, and a node without the directory fails the query.
step "export directory" mkdir -p /var/lib/ganeti/export || return 1
for n in $E2E_GUESTS $E2E_SPARE; do
  step "ssh to node$n" ssh -o BatchMode=yes "node$n.$E2E_DOMAIN" true || return 1
done

# on N cmd...: cmd as root on node N. Ganeti gives nodes new host keys when
# they join, so none are checked on this private network.
cat >/run/e2e/on <<EOT
#!/bin/sh
n=\$1; shift
exec ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \\
  "node\$n.$E2E_DOMAIN" "\$@"
EOT
chmod 755 /run/e2e/on
