#!/bin/bash
# Builds the Linux guest of `make usb-check` from Debian packages, at build time (nothing binary is
# committed): OUT/vmlinuz from linux-image-amd64 (fetched with apt-get download into OUT/debs), and
# OUT/initrd.gz, a busybox-static initramfs with the kernel modules of the USB route (xHCI, usbhid,
# hid-generic; hidraw is built in), the e1000 network driver, tests/usb/guest-init.sh as /init, and
# the given host programs with every shared library they load (copied from this machine, which runs
# the same Debian release as the guest's kernel).
#
# usage: build-guest.sh OUT PROGRAM...
set -euo pipefail
out=$1; shift
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)

# ---- the kernel: the newest version linux-image-amd64 depends on
kernel_dep() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1; }
meta_dep=$(kernel_dep)
if [ -z "$meta_dep" ]; then
  # A machine whose packages were all present never ran `apt-get update` (mk/install-deps.sh runs it only
  # when something is missing): its package lists may be empty.
  if [ "$(id -u)" -eq 0 ]; then apt-get update >/dev/null; else sudo apt-get update >/dev/null; fi
  meta_dep=$(kernel_dep)
fi
[ -n "$meta_dep" ] || { echo "build-guest: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
deb=$(ls "$out/debs/${meta_dep}_"*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  (cd "$out/debs" && apt-get download "$meta_dep" >/dev/null 2>&1) || { echo "build-guest: apt-get download $meta_dep failed" >&2; exit 1; }
  deb=$(ls "$out/debs/${meta_dep}_"*.deb | head -n1)
fi
rm -rf "$out/kernel" && mkdir -p "$out/kernel"
dpkg-deb -x "$deb" "$out/kernel"
cp "$out"/kernel/boot/vmlinuz-* "$out/vmlinuz"
kver=$(ls "$out/kernel/lib/modules")

# ---- the initramfs
root=$out/root
rm -rf "$root" && mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,lib/modules,run}
cp /bin/busybox "$root/bin/busybox"
{ ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic' \
  || { echo "build-guest: /bin/busybox is not busybox-static (make deps)" >&2; exit 1; }
# Load order = dependency order (each module's depends= field).
for m in usb-common usbcore xhci-hcd xhci-pci hid hid-generic usbhid e1000; do
  f=$(find "$out/kernel/lib/modules/$kver" -name "$m.ko" | head -n1)
  [ -n "$f" ] || { echo "build-guest: module $m.ko missing from $kver" >&2; exit 1; }
  cp "$f" "$root/lib/modules/"
  echo "$m" >>"$root/lib/modules/load-order"
done
cp "$src/guest-init.sh" "$root/init"
chmod 755 "$root/init"
for p in "$@"; do
  cp "$p" "$root/bin/"
  # Every library the dynamic loader resolves, at the same absolute path.
  ldd "$p" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 >"$out/initrd.gz.tmp")
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
rm -rf "$out/kernel" "$root"
echo "build-guest: $out/vmlinuz ($kver), $out/initrd.gz ($(du -k "$out/initrd.gz" | cut -f1) KiB)"
