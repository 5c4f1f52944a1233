#!/usr/bin/env bash
# Makes a root filesystem from the host's busybox-static: bin/busybox, one
# relative link per applet, a passwd/group, and the usual empty directories.
#   bash scripts/busybox-rootfs.sh DIR
set -euo pipefail
dir="${1:?usage: busybox-rootfs.sh DIR}"
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,home,var,run,usr/bin,usr/sbin,sbin}
cp "$bb" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
cat >"$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
G
chmod 1777 "$dir/tmp"
