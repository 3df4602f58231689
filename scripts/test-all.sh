#!/usr/bin/env bash
# Runs the whole test suite of pptpd-rs on a fresh Debian 12 machine that has only
# the Rust toolchain: installs what the tests need, checks formatting and lints,
# then runs every unit, property, capture, namespace and stock-client (qemu) test,
# each criterion benchmark once, and a short fuzzing pass.
# Run as root (the tests create network namespaces, TUN devices and VMs).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - start )) s)"; }

step "set-up: Debian packages"
scripts/setup-debian.sh
step "set-up: the stock-client guest (pptp-linux + pppd under qemu)"
tests/vm/build-guest.sh >/dev/null

step "format"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked -- -D warnings
step "tests"
cargo test --workspace --locked
step "fuzz harnesses: every committed seed replayed, the seeds up to date"
cargo test --manifest-path fuzz/Cargo.toml --locked
step "benchmarks, once each"
cargo test --workspace --benches --locked
step "fuzzing, briefly (every target from its seeds)"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"
step "done"
