#!/usr/bin/env bash
# `make fuzz`: schemathesis, with every check (positive data acceptance included), against
# a real `vec2prompt serve` on loopback, driven by the OpenAPI document the server itself
# serves. Usage: scripts/fuzz.sh [MAX_EXAMPLES]  (default 100 per operation; CI runs 5).
# schemathesis is installed with pip into a virtual environment under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES="${1:-${MAX_EXAMPLES:-100}}"
VENV="${FUZZ_VENV:-target/fuzz-venv}"
SCHEMATHESIS_VERSION="4.32.5"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
. scripts/serve_bg.sh
OUT="${FUZZ_OUT:-target/fuzz}"
mkdir -p "$OUT"
KEY="fuzz-key"
# Small limits keep generated requests cheap on a CPU (the document states these same
# limits, so every request schemathesis believes valid must be accepted).
# The generator only changes which candidates a search proposes, not what a request may
# hold, and its decode would dominate the run's time: fuzzed without it unless asked.
export VEC2PROMPT_GENERATOR="${VEC2PROMPT_GENERATOR:-none}"
# Likewise the content lexicon, whose first build embeds some 21,000 words.
export VEC2PROMPT_LEXICON="${VEC2PROMPT_LEXICON:-none}"
serve_bg "$OUT/server.log" --api-key "$KEY" --max-batch-items 4 --max-budget 2 \
  --max-tokens 8 --default-max-wall-ms 20000 --queue-capacity 256
trap serve_stop EXIT
echo "server: $SERVER_URL (log: $OUT/server.log)"
set +e
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$SERVER_URL/api-doc/openapi.json" \
  --checks all --max-examples "$MAX_EXAMPLES" --workers 2 --max-response-time 300 \
  --header "Authorization: Bearer $KEY" --request-timeout 300 \
  --suppress-health-check too_slow,data_too_large \
  --report junit --report-dir "$OUT" 2>&1 | tee "$OUT/schemathesis.txt"
rc=${PIPESTATUS[0]}
set -e
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "the server died during the run" >&2; exit 1
fi
exit "$rc"
