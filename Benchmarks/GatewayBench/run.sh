#!/usr/bin/env bash
# gateway-bench: the REST bridge under wrk, beside the FastAPI reference peer
# (../shared/peers/fastapi-seed, or PEER_DIR), measured the same way in the same run.
#
#   Benchmarks/GatewayBench/run.sh        DURATION (10) seconds per route, CONNECTIONS (64)
#
# 1. Souk: Tools/dev-db start, a release build, then `souk users`, `orders`, `payments` and
#    the `souk-gateway` executable on free ports against the cluster's databases.
#    One account signs up and places an order through the gateway; then, for each of
#    GET /v1/users/me, GET /v1/orders/{id} and POST /v1/orders: 3 s of warm-up and DURATION s of
#    `wrk -t2 -c CONNECTIONS --latency`. The gateway's RSS is read at rest (after start) and
#    after the load. Everything is stopped.
# 2. The peer: its run.sh (its own cluster and apps), the same account, order and wrk runs,
#    then its stop.sh.
# Prints a table of requests/s, p50 and p99 for both and the ratios. wrk comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/fastapi-seed}
HERE=$ROOT/Benchmarks/GatewayBench
WORK=$(mktemp -d /tmp/gateway-bench.XXXXXX)
chmod 700 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
Tools/dev-db start >/dev/null
swift build -c release --product souk >/dev/null
swift build -c release --product souk-gateway >/dev/null
SOUK=$(swift build -c release --show-bin-path)/souk
SOUK_GATEWAY=$(swift build -c release --show-bin-path)/souk-gateway

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Signs up at $1, places an order; sets AUTHORIZATION and ORDER_ID.
prepare() {
  local base=$1 email="bench-$(date +%s%N)@example.com"
  curl -sf -X POST "$base/v1/users" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"fullName\":\"Bench\"}" >/dev/null
  AUTHORIZATION="Bearer $(curl -sf -X POST "$base/v1/auth/tokens" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | json_field accessToken)"
  ORDER_ID=$(curl -sf -X POST "$base/v1/orders" -H 'Content-Type: application/json' -H "Authorization: $AUTHORIZATION" \
    -d '{"currency":"EUR","items":[{"sku":"BOOK-1","quantity":1,"unitPrice":"1999"}]}' | json_field id)
  export AUTHORIZATION ORDER_ID
}

# wrk against $1$2 with script $3; prints "requests/s p50_ms p99_ms". Between the warm-up and
# the measure, $ANALYZE brings the tables' statistics up to date (as autovacuum would once the
# warm-up has grown them; see orders-bench), for both stacks alike.
measure() {
  local url=$1$2 script=$3
  BENCH_AUTHORIZATION=$AUTHORIZATION wrk -t2 -c"$CONNECTIONS" -d3s -s "$HERE/$script" "$url" >/dev/null
  $ANALYZE >/dev/null 2>&1 || true
  BENCH_AUTHORIZATION=$AUTHORIZATION wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$HERE/$script" "$url" > "$WORK/wrk.out"
  python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    match = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\s*$" % label, text, re.M)
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rate:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {errors.group(1) if errors else 0}")
PY
}

routes=("GET /v1/users/me|/v1/users/me|get.lua" "GET /v1/orders/{id}|/v1/orders/ORDER|get.lua" "POST /v1/orders|/v1/orders|post-order.lua")

run_all() {  # base name
  local base=$1 name=$2
  for route in "${routes[@]}"; do
    IFS='|' read -r label path script <<<"$route"
    path=${path/ORDER/$ORDER_ID}
    echo "$name|$label|$(measure "$base" "$path" "$script")" >> "$WORK/results"
    echo "  $name $label: $(tail -1 "$WORK/results" | cut -d'|' -f3)" >&2
  done
}

# --- 1. Souk -------------------------------------------------------------------------
mkdir -p "$WORK/keys"
for pair in users services; do
  "$SOUK" keys new "bench-$pair" --signing-key-out "$WORK/keys/$pair.key" --public-key-out "$WORK/keys/$pair.pub" >/dev/null
done
P_USERS=$(free_port); P_ORDERS=$(free_port); P_PAYMENTS=$(free_port); P_GATEWAY=$(free_port)
# Admin ports on any free port: a `souk dev` on this machine holds the default ones.
start() { "$SOUK" "$@" --admin-address 127.0.0.1:0 > "$WORK/$1.log" 2>&1 & PIDS+=($!); }
start_gateway() { "$SOUK_GATEWAY" "$@" > "$WORK/gateway.log" 2>&1 & PIDS+=($!); }
start users --port "$P_USERS" --database-url "$(Tools/dev-db url users)" \
  --signing-key-file "$WORK/keys/users.key" --service-keys-file "$WORK/keys/services.pub"
start orders --port "$P_ORDERS" --database-url "$(Tools/dev-db url orders)" --users-address "127.0.0.1:$P_USERS" \
  --users-public-keys-file "$WORK/keys/users.pub" --service-signing-key-file "$WORK/keys/services.key" \
  --service-keys-file "$WORK/keys/services.pub"
start payments --port "$P_PAYMENTS" --database-url "$(Tools/dev-db url payments)" --orders-address "127.0.0.1:$P_ORDERS" \
  --users-public-keys-file "$WORK/keys/users.pub" --service-signing-key-file "$WORK/keys/services.key"
start_gateway --port "$P_GATEWAY" --users-address "127.0.0.1:$P_USERS" --orders-address "127.0.0.1:$P_ORDERS" \
  --payments-address "127.0.0.1:$P_PAYMENTS"
GATEWAY_PID=${PIDS[-1]}
SOUK_BASE=http://127.0.0.1:$P_GATEWAY
for _ in $(seq 1 150); do curl -sf "$SOUK_BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$SOUK_BASE/readyz" >/dev/null || { tail -n 20 "$WORK"/*.log; echo "souk did not start" >&2; exit 1; }
sleep 1
RSS_REST=$(rss_kb "$GATEWAY_PID")
echo "souk: gateway on $SOUK_BASE, RSS at rest ${RSS_REST} kB" >&2
prepare "$SOUK_BASE"
ANALYZE=analyze_souk
analyze_souk() { for db in users orders; do echo "ANALYZE;" | Tools/dev-db psql "$db"; done; }
run_all "$SOUK_BASE" souk
sleep 2
RSS_AFTER=$(rss_kb "$GATEWAY_PID")
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

# --- 2. The FastAPI peer ---------------------------------------------------------------
if [ -x "$PEER_DIR/run.sh" ]; then
  PEER_BASE=$("$PEER_DIR/run.sh" | tail -1)
  echo "peer: $PEER_BASE" >&2
  prepare "$PEER_BASE"
  ANALYZE=analyze_peer
  analyze_peer() {
    for db in souk_users souk_orders; do
      /usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "${PEER_PG_PORT:-55440}" -U postgres -d "$db" -qc ANALYZE
    done
  }
  run_all "$PEER_BASE" peer
  "$PEER_DIR/stop.sh" >/dev/null 2>&1 || true
else
  echo "no peer at $PEER_DIR: its columns stay empty" >&2
fi

# --- 3. The same rpc without the gateway -----------------------------------------------------
# users-bench calls GetCurrentUser over RPC from CONNECTIONS tasks (its own souk users, same
# cluster): what GET /v1/users/me costs without HTTP and JSON.
DIRECT=$(cd Benchmarks/PostgresBench && DURATION=$DURATION CONCURRENCY=$CONNECTIONS swift run -c release users-bench 2>/dev/null \
  | sed -n 's/^GetCurrentUser: \([0-9]*\) calls\/s, p50 \([0-9]*\) µs, p99 \([0-9]*\) µs.*/\1 \2 \3/p' | head -1)
echo "direct GetCurrentUser over RPC: ${DIRECT:-not measured}" >&2

# --- The table ------------------------------------------------------------------------------
python3 - "$WORK/results" "$RSS_REST" "$RSS_AFTER" "$CONNECTIONS" "$DURATION" "${DIRECT:-}" <<'PY'
import sys
rows = [line.strip().split("|") for line in open(sys.argv[1]) if line.strip()]
results = {(name, label): values.split() for name, label, values in rows}
labels = [label for name, label, _ in rows if name == "souk"]
print(f"\nwrk -t2 -c{sys.argv[4]} -d{sys.argv[5]}s (after 3 s of warm-up); p50/p99 in ms; non-2xx in parentheses\n")
print("| route | souk req/s | p50 | p99 | peer req/s | p50 | p99 | req/s ratio | p99 lower |")
print("|---|--:|--:|--:|--:|--:|--:|--:|---|")
for label in labels:
    s = results[("souk", label)]
    p = results.get(("peer", label))
    bad = f" ({s[3]})" if s[3] != "0" else ""
    if p:
        pbad = f" ({p[3]})" if p[3] != "0" else ""
        print(f"| {label} | {s[0]}{bad} | {s[1]} | {s[2]} | {p[0]}{pbad} | {p[1]} | {p[2]} | "
              f"{float(s[0]) / float(p[0]):.1f}× | {'yes' if float(s[2]) < float(p[2]) else 'no'} |")
    else:
        print(f"| {label} | {s[0]}{bad} | {s[1]} | {s[2]} | | | | | |")
print(f"\ngateway RSS: {int(sys.argv[2]) / 1024:.1f} MiB at rest after start, {int(sys.argv[3]) / 1024:.1f} MiB after the load")
direct = sys.argv[6].split()
if len(direct) == 3 and ("souk", "GET /v1/users/me") in results:
    rate, p50, p99 = float(direct[0]), float(direct[1]) / 1000, float(direct[2]) / 1000
    s = results[("souk", "GET /v1/users/me")]
    print(f"GetCurrentUser over RPC directly, {sys.argv[4]} in flight: {rate:.0f} calls/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
          f"the gateway adds {float(s[1]) - p50:.2f} ms at p50 and {float(s[2]) - p99:.2f} ms at p99")
PY
