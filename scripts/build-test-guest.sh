#!/usr/bin/env bash
# Builds the tiny Linux guest the ec2 tests boot under QEMU, from Debian packages:
#   OUTDIR/vmlinuz     the kernel of linux-image-cloud-amd64
#   OUTDIR/initrd.img  a gzipped newc cpio: busybox-static, the few kernel modules a QEMU guest
#                      needs (virtio, evdev + ACPI button, the IDE CD-ROM and its file systems), /init
#   OUTDIR/cmdline     the kernel command line to boot it with (-kernel/-initrd/-append)
# Usage: scripts/build-test-guest.sh OUTDIR    (prints OUTDIR when done)
#
# The packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a scratch
# directory rather than installed: installing a kernel would run the host's initramfs and bootloader
# hooks, and busybox-static conflicts with the host's busybox. Needs only the Debian mirror (and, when
# the package lists are missing, root to run `apt-get update` once). Idempotent: OUTDIR holds a stamp of
# this script, and an up-to-date OUTDIR is left alone. A lock serialises concurrent builds into one
# OUTDIR (the test files run in parallel), so none reads a kernel another is still writing.
# scripts/build-test-image.sh puts this guest on a bootable disk.
#
# What the guest prints on its serial console (ttyS0), one line each, for the tests to wait on:
#   HIVE-GUEST-READY                        modules loaded, acpid listening, eth0 configured by DHCP
#   HIVE-SEED-BEGIN <file> … HIVE-SEED-END <file>
#                                           meta-data, user-data and network-config of a NoCloud seed
#                                           (a disk labelled cidata, ISO 9660 or FAT), when one is present
#   HIVE-IMDS-TOKEN <token>                 an IMDSv2 token from PUT 169.254.169.254/latest/api/token
#   HIVE-IMDS-INSTANCE-ID <id>              meta-data/instance-id (with the token when there is one)
#   HIVE-IMDS-UNREACHABLE                   when the metadata service did not answer
#   HIVE-DISKS <name> …                     the block devices of /proc/partitions, at boot and on change
#   HIVE-DISK-FOUND <disk> <text>           a data disk appeared; its first sector as text (empty when
#                                           blank). Not vda, the root volume: blank under direct kernel
#                                           boot, the boot disk when booted from disk.raw. Not a CD
#                                           (the seed), not a partition.
#   HIVE-DISK-WROTE <disk>                  it was blank, and the guest wrote "HIVE-WROTE <disk>" there
#   HIVE-POWER-BUTTON                       ACPI power button pressed; the guest powers off
set -euo pipefail

out=${1:?usage: scripts/build-test-guest.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.guest.lock"
flock 9
stamp=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
   [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ -f "$out/cmdline" ]; then
  echo "$out"
  exit 0
fi

say() { printf 'build-test-guest: %s\n' "$*" >&2; }
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
fetch() {
  # linux-image-cloud-amd64 is a metapackage; the kernel is in the versioned package it depends on.
  kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  [ -n "$kpkg" ] || return 1
  say "fetching $kpkg and busybox-static"
  # As root, apt drops to the _apt user to download and warns that it cannot write here.
  apt-get download -q -o APT::Sandbox::User="$(id -un)" "$kpkg" busybox-static >/dev/null
}
# Lists older than the mirror name .debs it no longer has: refresh them once and try again.
fetch || { update_lists; fetch || { say "cannot fetch linux-image-cloud-amd64 and busybox-static"; exit 1; }; }
mkdir deb root
for f in ./*.deb; do dpkg-deb -x "$f" deb; done

kver=$(basename "$(echo deb/lib/modules/*)")
kdir=deb/lib/modules/$kver
mkdir -p root/bin root/dev root/proc root/sys root/tmp root/mnt root/etc/acpi/PWRF root/lib/modules root/var/log root/var/run
cp deb/bin/busybox root/bin/busybox
ln -s busybox root/bin/sh

# Modules in load order (dependencies first), read from each module's .modinfo "depends=".
declare -A seen=()
order=()
add_module() {
  local name=$1 file dep
  [ -n "${seen[$name]:-}" ] && return
  seen[$name]=1
  file=$(find "$kdir/kernel" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) | head -1)
  if [ -z "$file" ]; then
    grep -qE "/(${name}|${name//_/-})\.ko$" "$kdir/modules.builtin" && return
    say "kernel module $name not found in $kpkg"
    exit 1
  fi
  for dep in $(grep -a -o 'depends=[a-z0-9_,-]*' "$file" | head -1 | sed 's/^depends=//' | tr ',' ' '); do add_module "$dep"; done
  cp "$file" root/lib/modules/
  order+=("$(basename "$file")")
}
for m in virtio_pci virtio_blk virtio_net evdev button ata_piix sr_mod isofs vfat nls_cp437 nls_ascii; do
  add_module "$m"
done
printf '%s\n' "${order[@]}" > root/etc/modules

cat > root/etc/udhcpc.sh <<'EOF'
#!/bin/sh
# udhcpc's hook: applies the lease QEMU's user network (slirp) hands out.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    ;;
esac
EOF

# busybox acpid runs <confdir>/PWRF/00000080 when the power button (QMP system_powerdown) is pressed.
cat > root/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo HIVE-POWER-BUTTON > /dev/console
sync
poweroff -f
EOF

cat > root/init <<'EOF'
#!/bin/sh
# The test guest's init (PID 1): see scripts/build-test-guest.sh for the lines it prints.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in $(cat /etc/modules); do insmod "/lib/modules/$m"; done
acpid -c /etc/acpi -l /var/log/acpid.log
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 5 -T 1 >/dev/null 2>&1 || echo "no DHCP lease on eth0"
echo HIVE-GUEST-READY

seed=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null || true)
if [ -n "$seed" ] && mount -o ro "$seed" /mnt; then
  for f in meta-data user-data network-config; do
    [ -f "/mnt/$f" ] || continue
    echo "HIVE-SEED-BEGIN $f"
    cat "/mnt/$f"
    echo
    echo "HIVE-SEED-END $f"
  done
  umount /mnt
fi

# HTTP by hand over nc: busybox wget has no PUT, and the static build's wget crashes on resolving.
imds() { # METHOD PATH [HEADER…] → the body of a 200 answer from the instance metadata service
  local method=$1 path=$2
  shift 2
  { printf '%s %s HTTP/1.0\r\nHost: 169.254.169.254\r\n' "$method" "$path"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'; } | timeout 5 nc 169.254.169.254 80 2>/dev/null | tr -d '\r' |
    awk 'NR == 1 { ok = $2 == "200"; next } !body && $0 == "" { body = 1; next } body && ok'
}
token=$(imds PUT /latest/api/token 'X-aws-ec2-metadata-token-ttl-seconds: 300' || true)
if [ -n "$token" ]; then
  echo "HIVE-IMDS-TOKEN $token"
  iid=$(imds GET /latest/meta-data/instance-id "X-aws-ec2-metadata-token: $token" || true)
else
  iid=$(imds GET /latest/meta-data/instance-id || true)
fi
if [ -n "$iid" ]; then echo "HIVE-IMDS-INSTANCE-ID $iid"; else echo HIVE-IMDS-UNREACHABLE; fi

# Disks come and go (hot attach and detach): report the set whenever it changes, and mark new
# blank data disks so a test can see the guest wrote to a volume.
known=
while :; do
  disks=$(awk 'NR > 2 && $4 != "" { printf "%s ", $4 }' /proc/partitions)
  if [ "$disks" != "$known" ]; then
    echo HIVE-DISKS $disks
    for d in $disks; do
      case " $known " in *" $d "*) continue ;; esac
      case "$d" in vda*|sr*|*[0-9]) continue ;; esac
      text=$(dd if="/dev/$d" bs=512 count=1 2>/dev/null | tr -cd '\040-\176')
      echo "HIVE-DISK-FOUND $d $text"
      if [ -z "$text" ]; then
        echo "HIVE-WROTE $d" | dd of="/dev/$d" conv=fsync 2>/dev/null && echo "HIVE-DISK-WROTE $d"
      fi
    done
    known=$disks
  fi
  sleep 1
done
EOF
chmod 755 root/init root/etc/udhcpc.sh root/etc/acpi/PWRF/00000080

# busybox's own cpio writes the archive, so the host needs no cpio package.
(cd root && find . | sort | ./bin/busybox cpio -o -H newc 2>/dev/null) | gzip -9 > "$work/initrd.img"
cp "$kdir/../../../boot/vmlinuz-$kver" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
echo "console=ttyS0 panic=-1 quiet" > "$out/cmdline"
echo "$stamp" > "$out/stamp"
say "built $out ($kpkg, $(du -h "$out/initrd.img" | cut -f1) initrd)"
echo "$out"
