#!/usr/bin/env bash
# Fuzz smoke test: builds every cargo-fuzz target in fuzz/ and runs each one for SECONDS
# (default 20) from the committed seeds (fuzz/seeds/<target>/), one after the other. Fails if
# any target crashes (panics, times out on one input or runs out of memory); the crashing input
# is left in fuzz/artifacts/<target>/ and printed in hex.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS]
#
# Works on a fresh Debian machine that has only the Rust stable toolchain (run as root there, so
# that g++ can be installed for libFuzzer if it is missing): installs cargo-fuzz from crates.io
# if it is not there. On stable Rust cargo-fuzz works only without a sanitizer (`-s none`):
# its default, AddressSanitizer, needs `-Zsanitizer`, i.e. nightly. Our crates deny unsafe code,
# so the panics, overflow checks and debug assertions (on in cargo-fuzz builds) are what matter.
#
# Environment: FUZZ_TARGET_DIR (else CARGO_TARGET_DIR, else fuzz/target) is where the
# instrumented build goes; FUZZ_TARGETS (space-separated) runs only those targets.
set -euo pipefail

seconds="${1:-20}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

started=$(date +%s)
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$repo/fuzz/target}}"

# The cargo-fuzz release this script was written against; `--locked` keeps its dependencies
# at the versions it was released with.
cargo_fuzz_version="0.13.2"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz $cargo_fuzz_version" >&2
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
# libfuzzer-sys compiles libFuzzer, which is C++.
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz-smoke: installing g++ for libFuzzer" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends g++ >/dev/null
  else
    echo "fuzz-smoke: libFuzzer needs a C++ compiler (c++); install g++" >&2
    exit 1
  fi
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets found" >&2
  exit 1
fi

echo "fuzz-smoke: building ${#targets[@]} targets (sanitizer none, debug assertions on)"
build_started=$(date +%s)
cargo fuzz build --fuzz-dir fuzz -s none
build_seconds=$(( $(date +%s) - build_started ))
echo "fuzz-smoke: build took ${build_seconds}s"

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  artifacts="fuzz/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  log="$(mktemp)"
  stamp="$(mktemp)" # older than anything this run writes
  echo "fuzz-smoke: $target for ${seconds}s"
  target_started=$(date +%s)
  # New inputs go to the (ignored) corpus dir; the committed seeds are only read.
  if cargo fuzz run --fuzz-dir fuzz -s none "$target" "$corpus" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$target")
    grep -E 'panicked at|^thread|Test unit written to|ERROR: libFuzzer' "$log" >&2 || true
    # Only what this run wrote.
    find "$artifacts" -type f -newer "$stamp" | while read -r input; do
      echo "fuzz-smoke: $input ($(wc -c <"$input") bytes):" >&2
      od -An -tx1 -v "$input" | tr -d ' \n' | fold -w 96 >&2
      echo >&2
    done
  fi
  # The last status line: "cov: N ft: N corp: N/Nb ..."; the final stats: runs and exec/s.
  cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)"
  runs="$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n 1)"
  rate="$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n 1)"
  summary+=("$(printf '%-20s %-5s %4ss  runs=%-10s exec/s=%-8s %s' "$target" "$status" \
    "$(( $(date +%s) - target_started ))" "${runs:-?}" "${rate:-?}" "${cov:-?}")")
  rm -f "$log" "$stamp"
done

echo
echo "fuzz-smoke: results"
printf '  %s\n' "${summary[@]}"
echo "fuzz-smoke: total $(( $(date +%s) - started ))s (build ${build_seconds}s, ${#targets[@]} targets x ${seconds}s)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/; reproduce with" \
    "cargo fuzz run -s none <target> <input>; add it to fuzz/seeds/<target>/ once fixed)" >&2
  exit 1
fi
echo "fuzz-smoke: no crash"
