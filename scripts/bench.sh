#!/usr/bin/env bash
# The GRE throughput and session benchmark of pptpd-rs (benches/README.md), one command:
# installs what it needs (scripts/setup-debian.sh), builds pptpd-rs and pptpd-bench in release
# mode, and runs pptpd-bench, which sets up the test namespaces, measures the limits of the
# machine and pptpd-rs, prints one table and writes it as JSON to
# $CARGO_TARGET_DIR/bench/pptpd-bench.json (target/bench/... by default; --json FILE to change).
# Arguments go to pptpd-bench: --quick (under a minute), --duration SECS, --only
# throughput|sessions|limits, --sizes 64,512,1400, --sessions 1,64, --help.
# Run as root on an otherwise idle machine with at least two cores; a full run takes a few
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: run as root (network namespaces, raw sockets, CPU pinning)" >&2
  exit 1
fi
scripts/setup-debian.sh
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p pptpd-rs -p pptpd-benches
json=()
case " $* " in
  *" --json "* | *" --json="*) ;;
  *) json=(--json "$target/bench/pptpd-bench.json") ;;
esac
exec "$target/release/pptpd-bench" --gateway "$target/release/pptpd-rs" "${json[@]}" "$@"
