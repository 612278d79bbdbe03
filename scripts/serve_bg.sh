#!/usr/bin/env bash
# Starts `vec2prompt serve` on a free loopback port in the background, for the fuzz and
# soak drivers. Source it: `serve_bg LOG ARGS...` sets SERVER_PID and SERVER_URL and
# returns once the server listens; `serve_stop` stops it (SIGTERM, graceful).
BIN="${BIN:-target/release/vec2prompt}"

serve_bg() {
  local log="$1"; shift
  "$BIN" serve --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  SERVER_PID=$!
  SERVER_URL=""
  for _ in $(seq 1 600); do
    SERVER_URL="$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -n1)"
    [ -n "$SERVER_URL" ] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the server exited before listening:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.5
  done
  echo "the server did not listen within 300 s:" >&2; cat "$log" >&2
  kill "$SERVER_PID" 2>/dev/null; return 1
}

serve_stop() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
