#!/usr/bin/env bash
# gateway-bench: the REST bridge under wrk, beside the FastAPI reference peer
# (../shared/peers/fastapi-seed, or PEER_DIR), measured the same way in the same run.
#
#   Benchmarks/GatewayBench/run.sh        DURATION (8) seconds per measure, ROUNDS (2), CONNECTIONS (64)
#
# 1. Souk: Tools/dev-db start, a release build, then `souk users`, `orders`, `payments` and
#    the `souk-gateway` executable on free ports against the cluster's databases.
# 2. The peer: its run.sh (its own cluster and apps), started beside Souk; the stack not being
#    measured sits idle.
# 3. One account signs up and places an order through each gateway; then, for each of
#    GET /v1/users/me, GET /v1/orders/{id} and POST /v1/orders, ROUNDS rounds of: Souk, then
#    the peer, each 3 s of warm-up and DURATION s of `wrk -t2 -c CONNECTIONS --latency`. Taking
#    turns, rather than one stack after the other, lets a drift in the shared machine's speed
#    fall on both alike; each round gives a ratio. The gateway's RSS is read at rest (after
#    start) and after the load. Everything is stopped.
# Prints a table of requests/s, p50 and p99 for both (the mean of the rounds) and the ratios
# (of the means, and each round's). wrk comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/fastapi-seed}
HERE=$ROOT/Benchmarks/GatewayBench
WORK=$(mktemp -d /tmp/gateway-bench.XXXXXX)
chmod 700 "$WORK"
PIDS=()
PEER_STARTED=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PEER_STARTED" ]; then "$PEER_DIR/stop.sh" >/dev/null 2>&1 || true; fi
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

# Signs up at $1, places an order; sets USER_ID, AUTHORIZATION and ORDER_ID.
prepare() {
  local base=$1 email="bench-$(date +%s%N)@example.com"
  USER_ID=$(curl -sf -X POST "$base/v1/users" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"fullName\":\"Bench\"}" | json_field id)
  AUTHORIZATION="Bearer $(curl -sf -X POST "$base/v1/auth/tokens" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | json_field accessToken)"
  ORDER_ID=$(curl -sf -X POST "$base/v1/orders" -H 'Content-Type: application/json' -H "Authorization: $AUTHORIZATION" \
    -d '{"currency":"EUR","items":[{"sku":"BOOK-1","quantity":1,"unitPrice":"1999"}]}' | json_field id)
  export USER_ID AUTHORIZATION ORDER_ID
}

# wrk against $1$2 with script $3 and token $4; prints "requests/s p50_ms p99_ms non2xx".
# Between the warm-up and the measure, $5 brings the tables' statistics up to date (as
# autovacuum would once the warm-up has grown them; see orders-bench), for both stacks alike.
measure() {
  local url=$1$2 script=$3 token=$4 analyze=$5
  BENCH_AUTHORIZATION=$token wrk -t2 -c"$CONNECTIONS" -d3s -s "$HERE/$script" "$url" >/dev/null
  $analyze >/dev/null 2>&1 || true
  BENCH_AUTHORIZATION=$token wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$HERE/$script" "$url" > "$WORK/wrk.out"
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

# measure_route name base token order analyze route: one measure, appended to the results.
measure_route() {
  local name=$1 base=$2 token=$3 order=$4 analyze=$5 label path script
  IFS='|' read -r label path script <<<"$6"
  path=${path/ORDER/$order}
  echo "$name|$label|$(measure "$base" "$path" "$script" "$token" "$analyze")" >> "$WORK/results"
  echo "  $name $label: $(tail -1 "$WORK/results" | cut -d'|' -f3)" >&2
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
SOUK_TOKEN=$AUTHORIZATION SOUK_ORDER=$ORDER_ID SOUK_USER=$USER_ID
analyze_souk() { for db in users orders; do echo "ANALYZE;" | Tools/dev-db psql "$db"; done; }

# --- 2. The FastAPI peer, beside it ------------------------------------------------------------
PEER_BASE=""
if [ -x "$PEER_DIR/run.sh" ]; then
  # Its cluster's fixed port can be held for a moment by an outgoing connection's ephemeral
  # port (Souk's to its own cluster): try again after a pause.
  for attempt in 1 2 3; do
    if PEER_BASE=$("$PEER_DIR/run.sh" 2>"$WORK/peer-start.log" | tail -1) && [ -n "$PEER_BASE" ]; then break; fi
    PEER_BASE=""
    "$PEER_DIR/stop.sh" >/dev/null 2>&1 || true
    echo "the peer did not start (attempt $attempt): $(tail -2 "$WORK/peer-start.log" | tr '\n' ' ')" >&2
    sleep 3
  done
  [ -n "$PEER_BASE" ] || { echo "the peer did not start: its columns stay empty" >&2; }
fi
if [ -n "$PEER_BASE" ]; then
  PEER_STARTED=yes
  echo "peer: $PEER_BASE" >&2
  prepare "$PEER_BASE"
  PEER_TOKEN=$AUTHORIZATION PEER_ORDER=$ORDER_ID PEER_USER=$USER_ID
  analyze_peer() {
    for db in souk_users souk_orders; do
      /usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "${PEER_PG_PORT:-55440}" -U postgres -d "$db" -qc ANALYZE
    done
  }
elif [ ! -x "$PEER_DIR/run.sh" ]; then
  echo "no peer at $PEER_DIR: its columns stay empty" >&2
fi

# --- 3. Taking turns ---------------------------------------------------------------------------
for route in "${routes[@]}"; do
  for _ in $(seq 1 "$ROUNDS"); do
    measure_route souk "$SOUK_BASE" "$SOUK_TOKEN" "$SOUK_ORDER" analyze_souk "$route"
    if [ -n "$PEER_BASE" ]; then measure_route peer "$PEER_BASE" "$PEER_TOKEN" "$PEER_ORDER" analyze_peer "$route"; fi
  done
done
sleep 2
RSS_AFTER=$(rss_kb "$GATEWAY_PID")
# The orders POST /v1/orders made (tens of thousands a run) go again, in both stacks, so that
# runs do not slow each other down by growing the tables.
echo "DELETE FROM orders WHERE user_id = '$SOUK_USER';" | Tools/dev-db psql orders >/dev/null || true
if [ -n "$PEER_BASE" ]; then
  /usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "${PEER_PG_PORT:-55440}" -U postgres -d souk_orders -qc \
    "DELETE FROM orders WHERE user_id = '$PEER_USER'" >/dev/null || true
fi
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()
if [ -n "$PEER_STARTED" ]; then "$PEER_DIR/stop.sh" >/dev/null 2>&1 || true; PEER_STARTED=""; fi

# --- 3. The same rpc without the gateway -----------------------------------------------------
# users-bench calls GetCurrentUser over RPC from CONNECTIONS tasks (its own souk users, same
# cluster): what GET /v1/users/me costs without HTTP and JSON.
DIRECT=$(cd Benchmarks/PostgresBench && DURATION=$DURATION CONCURRENCY=$CONNECTIONS swift run -c release users-bench 2>/dev/null \
  | sed -n 's/^GetCurrentUser: \([0-9]*\) calls\/s, p50 \([0-9]*\) µs, p99 \([0-9]*\) µs.*/\1 \2 \3/p' | head -1)
echo "direct GetCurrentUser over RPC: ${DIRECT:-not measured}" >&2

# --- The table ------------------------------------------------------------------------------
python3 - "$WORK/results" "$RSS_REST" "$RSS_AFTER" "$CONNECTIONS" "$DURATION" "${DIRECT:-}" "$ROUNDS" <<'PY'
import sys
from statistics import mean
rows = [line.strip().split("|") for line in open(sys.argv[1]) if line.strip()]
runs = {}
for name, label, values in rows:
    runs.setdefault((name, label), []).append(values.split())
labels = list(dict.fromkeys(label for name, label, _ in rows if name == "souk"))
def summary(key):
    got = runs.get(key)
    if not got:
        return None
    return (mean(float(r[0]) for r in got), mean(float(r[1]) for r in got), mean(float(r[2]) for r in got),
            sum(int(r[3]) for r in got), [float(r[0]) for r in got])
print(f"\nwrk -t2 -c{sys.argv[4]} -d{sys.argv[5]}s (after 3 s of warm-up), {sys.argv[7]} rounds taking turns; "
      "the mean of the rounds; p50/p99 in ms; non-2xx in parentheses\n")
print("| route | souk req/s | p50 | p99 | peer req/s | p50 | p99 | req/s ratio | each round | p99 lower |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
for label in labels:
    s = summary(("souk", label))
    p = summary(("peer", label))
    bad = f" ({s[3]})" if s[3] else ""
    if p:
        pbad = f" ({p[3]})" if p[3] else ""
        each = ", ".join(f"{a / b:.1f}×" for a, b in zip(s[4], p[4]))
        print(f"| {label} | {s[0]:.0f}{bad} | {s[1]:.2f} | {s[2]:.2f} | {p[0]:.0f}{pbad} | {p[1]:.2f} | {p[2]:.2f} | "
              f"{s[0] / p[0]:.1f}× | {each} | {'yes' if s[2] < p[2] else 'no'} |")
    else:
        print(f"| {label} | {s[0]:.0f}{bad} | {s[1]:.2f} | {s[2]:.2f} | | | | | | |")
print(f"\ngateway RSS: {int(sys.argv[2]) / 1024:.1f} MiB at rest after start, {int(sys.argv[3]) / 1024:.1f} MiB after the load")
direct = sys.argv[6].split()
if len(direct) == 3 and ("souk", "GET /v1/users/me") in runs:
    rate, p50, p99 = float(direct[0]), float(direct[1]) / 1000, float(direct[2]) / 1000
    s = summary(("souk", "GET /v1/users/me"))
    print(f"GetCurrentUser over RPC directly, {sys.argv[4]} in flight: {rate:.0f} calls/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
          f"the gateway adds {s[1] - p50:.2f} ms at p50 and {s[2] - p99:.2f} ms at p99")
PY
