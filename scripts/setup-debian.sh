#!/usr/bin/env bash
# Installs what building, running and testing pptpd-rs needs on a fresh Debian 12
# machine that has only the Rust toolchain. Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Runtime: nft (or iptables) for the egress rules, ip for the operator.
# Tests: namespaces and veth (iproute2), checksums computed on the test WAN (ethtool),
# pgrep (procps), the stock-client guest
# (qemu, ppp, pptp-linux, busybox, cpio: see tests/vm/build-guest.sh).
packages=(nftables iptables iproute2 ethtool procps kmod ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-debian: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# nf_tables and the NAT helpers are modules on Debian kernels; load them if we can.
for m in nf_tables nft_chain_nat nf_nat tun; do modprobe -q "$m" 2>/dev/null || true; done
