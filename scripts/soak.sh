#!/usr/bin/env bash
# `make soak`: bounded load on loopback against a real `vec2prompt serve` with its default
# settings (scripts/soak.py: 64 concurrent fast-mode clients for 60 s, then a burst of
# 200). Usage: scripts/soak.sh [CONCURRENCY SECONDS BURST]
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY="${1:-64}"; SECONDS_="${2:-60}"; BURST="${3:-200}"
. scripts/serve_bg.sh
OUT="${SOAK_OUT:-target/soak}"
mkdir -p "$OUT"
serve_bg "$OUT/server.log" ${SOAK_SERVE_ARGS:-}
trap serve_stop EXIT
echo "server: $SERVER_URL (pid $SERVER_PID, log: $OUT/server.log)"
python3 scripts/soak.py --url "$SERVER_URL" --pid "$SERVER_PID" \
  --concurrency "$CONCURRENCY" --seconds "$SECONDS_" --burst "$BURST" --json "$OUT/soak.json"
