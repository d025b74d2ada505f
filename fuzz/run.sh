#!/usr/bin/env bash
# A fuzzing campaign over every parser: each target of fuzz/Cargo.toml runs for SECONDS
# (default 120) with libFuzzer and AddressSanitizer on the nightly toolchain, and the script
# prints one line per target (runs, coverage, corpus size, crash or not).
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs `cargo-fuzz` and a nightly toolchain (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). The committed seeds under fuzz/corpus/TARGET are read; what the
# campaign finds grows under fuzz/target/corpus/TARGET (not in git; kept between runs). A crash
# leaves its input under fuzz/artifacts/TARGET and the script exits 1 after running the
# remaining targets. Replay one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
set -uo pipefail
cd "$(dirname "$0")"

seconds=${1:-120}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -O || exit 2

failed=0
printf '%-18s %12s %8s %8s  %s\n' target runs cov corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "target/corpus/$t" "artifacts/$t"
  dict=()
  [ -f "$t.dict" ] && dict=("-dict=$t.dict")
  log=$(mktemp)
  cargo +nightly fuzz run -O "$t" "target/corpus/$t" "corpus/$t" -- -max_total_time="$seconds" \
    -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(find "target/corpus/$t" "corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="CRASH (exit $rc): $(grep -m1 -E 'panicked|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log")"
    failed=1
    cp "$log" "artifacts/$t/last-run.log"
  fi
  printf '%-18s %12s %8s %8s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "$corpus" "$result"
  rm -f "$log"
done
exit $failed
