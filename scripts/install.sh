#!/usr/bin/env bash
# Installs hako on this machine (Debian 12, as root): build dependencies from
# Debian, npm packages from the lockfile, the build, then the programs into
# /usr/local. Also makes a demo bundle from the host's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"

if [ "${HAKO_SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends build-essential libseccomp-dev busybox-static >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
npm run -s build

lib="$PREFIX/lib/hako"
rm -rf "$lib"
mkdir -p "$lib/dist" "$lib/native/build" "$PREFIX/bin"
cp dist/*.cjs dist/*.cache "$lib/dist/"
cp native/build/hako-shim native/build/hako-shim-loop native/build/hako-init "$lib/native/build/"
for p in hako hakod hako-runtime; do
  # A node script, no wrapper around it: one exec before node, as with
  # env. That one is sh (bin/hako's first two lines; node reads the second
  # as a string and a comment), which starts node without
  # NODE_EXTRA_CA_CERTS for the launcher to put back (hakod's HTTPS reads
  # the file itself, when it first needs it).
  printf '#!/bin/sh\n%s\n' "$(sed -n 2p "bin/$p")" >"$PREFIX/bin/$p"
  if [ "$p" = hakod ]; then
    printf 'require("%s/dist/launch.cjs");\nrequire("%s/dist/hakod.cjs");\n' "$lib" "$lib" >>"$PREFIX/bin/$p"
  else
    printf 'require("%s/dist/launch.cjs")("%s");\n' "$lib" "$p" >>"$PREFIX/bin/$p"
  fi
  chmod 755 "$PREFIX/bin/$p"
done

demo="$PREFIX/share/hako/busybox"
rm -rf "$demo"
bash scripts/busybox-rootfs.sh "$demo/rootfs"
(cd "$demo" && "$PREFIX/bin/hako-runtime" spec)
# The demo prints and exits instead of opening an interactive shell.
node -e '
const fs = require("fs"); const f = process.argv[1];
const spec = JSON.parse(fs.readFileSync(f, "utf8"));
spec.process.terminal = false;
spec.process.args = ["sh", "-c", "echo hello from a hako container; echo hostname: $(hostname); echo pid: $$; id"];
fs.writeFileSync(f, JSON.stringify(spec, null, 2));
' "$demo/config.json"
echo "installed: $PREFIX/bin/hako, hakod, hako-runtime; demo bundle: $demo"
