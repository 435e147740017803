#!/bin/busybox sh
# /init of the usb-check guest (tests/usb/build-guest.sh): loads the USB and network drivers, brings
# up QEMU's user network (the host is 10.0.2.2), waits for the oncesign device's hidraw node, runs
# /test.sh (appended to the initramfs by tests/usb/usb_check.sh) and powers off. Everything it
# prints goes to the serial console, which the host script reads.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
while read -r m; do insmod "/lib/modules/$m.ko" || echo "guest: insmod $m failed"; done </lib/modules/load-order
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && route add default gw 10.0.2.2
echo "guest: kernel $(uname -r); drivers loaded"
if [ -x /test.sh ]; then
  /test.sh
  echo "guest: test.sh exit $?"
else
  echo "guest: no /test.sh"
fi
poweroff -f
