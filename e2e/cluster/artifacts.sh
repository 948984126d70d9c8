#!/bin/bash
# Builds, once, what the cluster test bed's guests boot, under $CACHE:
#   kernel/   Debian's own kernel package (linux-image-amd64's), extracted
#             with dpkg-deb, never installed; depmod run on its modules
#   kmod/     Debian's kmod package extracted (this machine has no modprobe)
#   initramfs.cpio.gz  static busybox, the modules to mount the host's root
#             over 9p with a tmpfs overlay, and e2e/cluster/initramfs-init
# Packages come from the machine's apt sources (apt-get download).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CACHE:-/var/tmp/ganeti-e2e-cluster}
mkdir -p "$CACHE/debs"
cd "$CACHE"

if [ ! -f kernel/.done ]; then
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$kpkg" ] || { echo "artifacts: no kernel package behind linux-image-amd64" >&2; exit 1; }
  (cd debs && apt-get download "$kpkg" busybox-static kmod 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
  rm -rf kernel bb kmod
  dpkg-deb -x debs/"$kpkg"_*.deb kernel
  dpkg-deb -x debs/busybox-static_*.deb bb
  dpkg-deb -x debs/kmod_*.deb kmod
  kv=$(ls kernel/lib/modules)
  ln -sf kmod kmod/bin/depmod   # kmod acts by the name it is called by
  kmod/bin/depmod -b "$CACHE/kernel" "$kv"
  touch kernel/.done
fi
kv=$(ls kernel/lib/modules)
mods=kernel/lib/modules/$kv

# The initramfs is rebuilt when its init changes.
if [ ! -f initramfs.cpio.gz ] || [ "$HERE/initramfs-init" -nt initramfs.cpio.gz ]; then
  r=$CACHE/initramfs.d
  rm -rf "$r"; mkdir -p "$r"/{bin,dev,proc,sys,lower,upper,newroot,mods}
  cp bb/bin/busybox "$r/bin/busybox"
  for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
           netfs fscache 9pnet 9pnet_virtio 9p overlay; do
    f=$(grep -E "/$m\.ko(\.xz)?:" "$mods/modules.dep" | head -1 | cut -d: -f1)
    [ -n "$f" ] || { echo "artifacts: no module $m in $kv" >&2; exit 1; }
    case $f in
      *.xz) xz -dc "$mods/$f" >"$r/mods/$m.ko" ;;
      *) cp "$mods/$f" "$r/mods/$m.ko" ;;
    esac
    echo "$m" >>"$r/mods/order"
  done
  cp "$HERE/initramfs-init" "$r/init"; chmod 755 "$r/init"
  (cd "$r" && find . | "$CACHE/bb/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >initramfs.cpio.gz.tmp
  mv initramfs.cpio.gz.tmp initramfs.cpio.gz
  rm -rf "$r"
fi
echo "$kv"
