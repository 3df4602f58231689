#!/bin/bash
# Builds the stock-client guest of the end-to-end tests: a Debian kernel that has
# PPP (ppp_generic, ppp_async, ppp_mppe) and an initramfs with busybox, pppd and
# pptp-linux, all taken from Debian's packages. The test hosts' kernels have no
# PPP, so the stock client can only run inside a guest kernel under qemu.
# Also builds the reference server guest: the same plus poptop pptpd.
#
# usage: build-guest.sh [OUT_DIR]
#   OUT_DIR defaults to $PPTP_GUEST_DIR or ~/.cache/pptpd-rs-guest.
#   Prints OUT_DIR (the only line on stdout); progress goes to stderr.
#   OUT_DIR/vmlinuz (and OUT_DIR/vmlinux, the same kernel uncompressed),
#   OUT_DIR/client.cpio.gz and OUT_DIR/server.cpio.gz are the guests.
#   Cached: returns at once unless this script or an init script changed.
#   PPTP_GUEST_KERNEL_DEB=/path/linux-image-*.deb uses a local kernel package
#   instead of `apt-get download` (for hosts without a Debian mirror).
#
# On a fresh Debian 12 host it installs what is missing itself (root needed):
# qemu-system-x86, ppp, pptp-linux, busybox-static, cpio, iproute2.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-${PPTP_GUEST_DIR:-$HOME/.cache/pptpd-rs-guest}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "build-guest: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The cache key: the scripts that end up in (or shape) the guest.
STAMP=$(cat "$HERE/build-guest.sh" "$HERE/guest-init.sh" "$HERE/server-init.sh" | sha256sum | cut -c1-16)
ready() {
  [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/client.cpio.gz" ] && [ -s "$OUT/server.cpio.gz" ] &&
    [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]
}
ready && { echo "$OUT"; exit 0; }
# One build at a time: parallel test processes share the cache.
exec 9>"$OUT/.lock"
flock 9
ready && { echo "$OUT"; exit 0; }
export DEBIAN_FRONTEND=noninteractive

# 1. Host tools: qemu (software emulation is enough), the client binaries to copy
#    into the guest, and ip(8) for the tests' namespaces.
APT_UPDATED=
apt_update() { [ -n "$APT_UPDATED" ] || { apt-get update -q >/dev/null; APT_UPDATED=1; }; }
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v pppd >/dev/null || need+=(ppp)
command -v pptp >/dev/null || need+=(pptp-linux)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v ip >/dev/null || need+=(iproute2)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt_update
  # Debian 12's qemu-system-x86 conflicts with the newer qemu-utils some images
  # carry (from backports): install it together with the matching qemu-utils.
  if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends --allow-downgrades \
      "${need[@]}" qemu-utils/bookworm >/dev/null
  fi
fi
BUSYBOX=$(command -v busybox)

# 2. A Debian kernel with PPP, PPTP and MPPE as modules. Only vmlinuz and the
#    modules the guest loads are kept; the package itself is not.
#    The guest kernel must be the generic flavour: `-cloud-amd64` has no PPP.
WANT_MODULES="virtio_pci virtio_net ppp_async ppp_synctty ppp_mppe"
MODDIR="$OUT/modules"
# What this stage produces; it runs again when this changes.
KERNEL_KEY="modules: $WANT_MODULES; vmlinux: pvh"
if [ ! -s "$OUT/vmlinuz" ] || [ "$(cat "$OUT/kernel.key" 2>/dev/null)" != "$KERNEL_KEY" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if [ -n "${PPTP_GUEST_KERNEL_DEB:-}" ]; then
    deb=$PPTP_GUEST_KERNEL_DEB
  else
    apt_update
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$pkg" ] || die "no linux-image-amd64 dependency found in the apt lists"
    log "downloading $pkg"
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) || die "apt-get download $pkg failed"
    deb=$(echo "$tmp"/*.deb)
  fi
  log "extracting $(basename "$deb")"
  dpkg -x "$deb" "$tmp/root"
  cp "$tmp"/root/boot/vmlinuz-* "$OUT/vmlinuz.new"
  kroot=$(echo "$tmp"/root/lib/modules/*)
  [ -d "$kroot/kernel" ] || die "no modules in $deb"
  # Resolve dependencies from each module's own .modinfo `depends=` (dpkg -x runs
  # no depmod), and write a load order in which every module follows its needs.
  declare -A path=() seen=()
  builtin=$(sed 's/-/_/g' "$kroot/modules.builtin")
  while IFS= read -r f; do
    n=$(basename "$f"); n=${n%.ko}; path[${n//-/_}]=$f
  done < <(find "$kroot/kernel" -name '*.ko')
  rm -rf "$MODDIR.new"; mkdir -p "$MODDIR.new"
  add_module() {
    local n=${1//-/_} f deps d
    [ -z "${seen[$n]:-}" ] || return 0
    seen[$n]=1
    f=${path[$n]:-}
    if [ -z "$f" ]; then
      case "$builtin" in *"/$n.ko"*) return 0 ;; esac
      die "module $n is neither built in nor in $deb"
    fi
    deps=$(tr '\0' '\n' < "$f" | grep -a -m1 '^depends=' || true)
    deps=${deps#depends=}
    for d in ${deps//,/ }; do add_module "$d"; done
    cp "$f" "$MODDIR.new/$n.ko"
    echo "$n.ko" >> "$MODDIR.new/order"
  }
  for m in $WANT_MODULES; do add_module "$m"; done
  basename "$kroot" > "$MODDIR.new/release"
  # The uncompressed ELF kernel boots through PVH (Debian sets CONFIG_PVH): qemu
  # loads it directly and the guest skips decompressing itself, which under
  # software emulation saves about 4 s per boot. client-vm.sh falls back to
  # vmlinuz when there is no vmlinux.
  rm -f "$OUT/vmlinux"
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$OUT/vmlinuz.new" | head -n1 | cut -d: -f1 || true)
  if [ -n "$off" ] && grep -q '^CONFIG_PVH=y' "$tmp"/root/boot/config-*; then
    tail -c +$((off + 1)) "$OUT/vmlinuz.new" | xz -dc > "$OUT/vmlinux.new" 2>/dev/null || true
    if [ "$(head -c 4 "$OUT/vmlinux.new" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      mv "$OUT/vmlinux.new" "$OUT/vmlinux"
    else
      log "could not extract an ELF vmlinux; booting the compressed kernel"
    fi
    rm -f "$OUT/vmlinux.new"
  fi
  rm -rf "$MODDIR"; mv "$MODDIR.new" "$MODDIR"; mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
  echo "$KERNEL_KEY" > "$OUT/kernel.key"
  rm -rf "$tmp"; trap - EXIT
  log "kernel $(cat "$MODDIR/release"), modules: $(tr '\n' ' ' < "$MODDIR/order")"
fi

# 3. The initramfs: busybox, pppd, pptp and their libraries, the modules, the init.
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/sbin,etc/ppp/peers,proc,sys,dev,tmp,run,var/run/pptp,var/lock,var/log,lib/modules}
copy_with_libs() { # binary, destination directory[, extracted package root]
  local l at
  cp "$1" "$R$2/"
  for l in $(LD_LIBRARY_PATH=${3:+$3/usr/lib/x86_64-linux-gnu} ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
    at=${l#"${3:-}"}
    mkdir -p "$R$(dirname "$at")"; cp -L "$l" "$R$at"
  done
}
copy_with_libs "$BUSYBOX" /bin
[ "$(basename "$BUSYBOX")" = busybox ] || mv "$R/bin/$(basename "$BUSYBOX")" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
copy_with_libs "$(command -v pppd)" /usr/sbin
copy_with_libs "$(command -v pptp)" /usr/sbin
cp "$MODDIR"/*.ko "$MODDIR/order" "$R/lib/modules/"
cp "$HERE/guest-init.sh" "$R/init"; chmod +x "$R/init"
touch "$R/etc/ppp/options"
echo "root:x:0:0:root:/:/bin/sh" > "$R/etc/passwd"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/client.cpio.gz.new"
mv "$OUT/client.cpio.gz.new" "$OUT/client.cpio.gz"

# 4. The reference server: the same tree plus poptop pptpd. Its packages are
#    downloaded and unpacked, never installed (installing would start pptpd here).
PPTPD="$OUT/pptpd"
if [ ! -x "$PPTPD/usr/sbin/pptpd" ]; then
  apt_update
  ptmp=$(mktemp -d)
  log "downloading pptpd libwrap0"
  (cd "$ptmp" && apt-get download -q -o APT::Sandbox::User=root pptpd libwrap0 >/dev/null) ||
    die "apt-get download pptpd libwrap0 failed"
  rm -rf "$PPTPD.new"
  for deb in "$ptmp"/*.deb; do dpkg -x "$deb" "$PPTPD.new"; done
  rm -rf "$ptmp" "$PPTPD"; mv "$PPTPD.new" "$PPTPD"
fi
copy_with_libs "$PPTPD/usr/sbin/pptpd" /usr/sbin "$PPTPD"
copy_with_libs "$PPTPD/usr/sbin/pptpctrl" /usr/sbin "$PPTPD"
cp "$HERE/server-init.sh" "$R/init"; chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/server.cpio.gz.new"
mv "$OUT/server.cpio.gz.new" "$OUT/server.cpio.gz"
echo "$STAMP" > "$OUT/stamp"
log "guest ready in $OUT"
echo "$OUT"
