#!/usr/bin/env bash
# Builds pptpd-rs and runs it in the foreground on the sample configuration
# (pptpd-rs/tests/data/sample/: localip 192.168.0.1, remoteip
# 192.168.0.234-238,192.168.0.245, user root / 123456, MS-CHAPv2 + MPPE-128),
# on a fresh Debian 12 machine that has only the Rust toolchain. Run as root.
# Extra arguments go to pptpd-rs (e.g. --debug, or --check to only validate).
#
# This is the real gateway: it listens on TCP 1723 on every address, creates
# pptp0, turns on ip_forward and masquerades the pool out of the default
# route's interface until you stop it (Ctrl-C), and then removes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo build --release --locked -p pptpd-rs
chmod 600 pptpd-rs/tests/data/sample/chap-secrets 2>/dev/null || true
exec "${CARGO_TARGET_DIR:-target}/release/pptpd-rs" -c pptpd-rs/tests/data/sample/pptpd.conf "$@"
