#!/usr/bin/env bash
# Re-creates docs/examples/load-test-report.{html,json}: 80 s of staged load on MyLearning's
# CPU-heavy quiz grading through the load balancer, a manual scale-out in the middle of the
# spike, and an instance killed under load.
#
# First, in another terminal, from the repository root:
#   cargo build --release --workspace && ./target/release/updraft up
# Then:
#   bash docs/examples/load-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
UPDRAFT=${UPDRAFT:-./target/release/updraft}
OUT=${OUT:-docs/examples}

"$UPDRAFT" load http://127.0.0.1:8080/api/quiz/grade -X POST \
  -H 'content-type: application/json' \
  --body '{"answers":[1,0,3,2,2,1,0,3,1,2],"work":4}' \
  --stages docs/examples/load-test.stages \
  --threshold 'p99<1s' --threshold 'errors<0.1%' \
  --json "$OUT/load-test-report.json" --report "$OUT/load-test-report.html" &
LOAD=$!
trap 'kill $LOAD 2>/dev/null || true' EXIT

sleep 45                                   # into the spike
"$UPDRAFT" scale web 6                     # scale out by hand (the example has no scaling policy yet)
sleep 20
"$UPDRAFT" chaos kill-instance             # lose one instance under load; the group replaces it
set +e
wait "$LOAD"
status=$?
trap - EXIT
echo "updraft load exited with $status (0: every threshold held; 99: one failed)"
