#!/usr/bin/env bash
# Builds the test guest of scripts/build-test-guest.sh (which documents what it prints on its console)
# as a bootable disk, the tiny AMI the ec2 tests import, next to the guest's kernel and initrd:
#   OUTDIR/disk.raw    the guest on a whole-disk FAT file system, no partition table: vmlinuz,
#                      initrd.img and syslinux.cfg (the guest's cmdline), and the SYSLINUX boot sector
#                      and ldlinux.sys/.c32. The BIOS (QEMU's SeaBIOS) boots it from its first sector
#                      like any hard disk, so QEMU needs no -kernel. A few tens of MiB; the file system
#                      does not grow with the disk, so it boots the same from a larger volume.
#   OUTDIR/disk.qcow2, disk.vmdk, disk.vhd   the same disk in the other formats ImportImage takes
#                      (converted by qemu-img; .vhd is qemu-img's "vpc")
# Usage: scripts/build-test-image.sh OUTDIR    (prints OUTDIR when done)
#
# The FAT tools and SYSLINUX come like the guest's packages: `apt-get download` and `dpkg-deb -x` into a
# scratch directory, nothing installed. mtools writes into the image file and `syslinux --install` is its
# mtools-based installer, so no mount and no root. Idempotent: OUTDIR/disk.stamp holds a stamp of this
# script and of the guest it was built from; an up-to-date OUTDIR is left alone. A lock serialises
# concurrent builds into one OUTDIR (the test files run in parallel).
set -euo pipefail

out=${1:?usage: scripts/build-test-image.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
exec 8>"$out/.image.lock"
flock 8
bash "$here/build-test-guest.sh" "$out" >/dev/null
stamp=$(cat "$0" "$out/stamp" | sha256sum | cut -d' ' -f1)
if [ -f "$out/disk.stamp" ] && [ "$(cat "$out/disk.stamp")" = "$stamp" ] && [ -f "$out/disk.raw" ] &&
   [ -f "$out/disk.qcow2" ] && [ -f "$out/disk.vmdk" ] && [ -f "$out/disk.vhd" ]; then
  echo "$out"
  exit 0
fi

say() { printf 'build-test-image: %s\n' "$*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

update_lists() {
  if [ "$(id -u)" -ne 0 ]; then
    say "the Debian package lists are missing or stale; run: sudo apt-get update"
    exit 1
  fi
  apt-get update -qq >/dev/null
}
# syslinux carries ldlinux.sys and ldlinux.c32 inside it: no syslinux-common (the menu and other modules).
debs=(syslinux mtools dosfstools)
fetch() {
  say "fetching ${debs[*]}"
  # As root, apt drops to the _apt user to download and warns that it cannot write here.
  apt-get download -q -o APT::Sandbox::User="$(id -un)" "${debs[@]}" >/dev/null
}
# Lists older than the mirror name .debs it no longer has: refresh them once and try again.
fetch || { update_lists; fetch || { say "cannot fetch ${debs[*]}"; exit 1; }; }
mkdir deb
for f in ./*.deb; do dpkg-deb -x "$f" deb; done
# `syslinux` runs mcopy and mattrib by name.
export PATH="$work/deb/usr/bin:$work/deb/sbin:$PATH"

# Room for the files plus 8 MiB, in steps of 16 MiB.
bytes=$(( $(stat -c %s "$out/vmlinuz") + $(stat -c %s "$out/initrd.img") ))
mib=$(( (bytes / 1048576 + 8 + 15) / 16 * 16 ))
truncate -s "${mib}M" disk.raw
# The label is not cidata: the guest takes a disk labelled so for its NoCloud seed.
mkfs.fat -n HIVEBOOT disk.raw >/dev/null
# SERIAL: SYSLINUX's banner on the console too, the sign a test booted through the disk.
cat > syslinux.cfg <<EOF
SERIAL 0 115200
DEFAULT hive
PROMPT 0
TIMEOUT 0
LABEL hive
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND $(cat "$out/cmdline")
EOF
mcopy -i disk.raw "$out/vmlinuz" "$out/initrd.img" syslinux.cfg ::/
syslinux --install disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f raw -O vmdk disk.raw disk.vmdk
# force_size: a VHD's size is otherwise rounded to a CHS geometry.
qemu-img convert -f raw -O vpc -o force_size=on disk.raw disk.vhd

rm -f "$out/disk.stamp"
mv disk.raw disk.qcow2 disk.vmdk disk.vhd "$out/"
echo "$stamp" > "$out/disk.stamp"
say "built $out/disk.raw ($mib MiB) and its .qcow2, .vmdk, .vhd"
echo "$out"
