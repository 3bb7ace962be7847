#!/usr/bin/env bash
# The RPC benchmark, in one run (a few minutes):
#
#   Benchmarks/RPCBench/run.sh            DURATION=5 WARMUP=1 by default (seconds per cell)
#
# For each system — Souk RPC with its defaults (handlers and callers on Swift's global
# pool) and with event-loop executors (server handlers on the connection's event loop,
# `handlerExecution: .eventLoop`; client callers on `RPCClient.eventLoopExecutor()`), grpc-swift-2 (HTTP/2, Posix transport), a bare SwiftNIO length-prefixed
# echo, and a C epoll echo (the floor) — it starts the echo server in its own process,
# measures its RSS idle and with 100 idle connections, then runs the load client (a
# separate process) for (a) 1 call in flight, (b) 64 in flight on one connection and
# (c) 64 in flight over 8 connections, 100-byte payloads, and prints one table.
# Release builds; the C programs are compiled here with cc -O2.
set -euo pipefail
cd "$(dirname "$0")"
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SYSTEMS=${SYSTEMS:-"souk souk-loop grpc nio c"}
SCRATCH=${SCRATCH:-$PWD/.build}

echo "building (release)..." >&2
swift build -c release --scratch-path "$SCRATCH" --product rpcbench-server 2>&1 | grep -E "error|warning: unre" >&2 || true
swift build -c release --scratch-path "$SCRATCH" --product rpcbench-souk-server 2>&1 | grep -E "error|warning: unre" >&2 || true
swift build -c release --scratch-path "$SCRATCH" --product rpcbench-client 2>&1 | grep -E "error|warning: unre" >&2 || true
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
mkdir -p "$SCRATCH"
cc -O2 -o "$SCRATCH/epoll_echo_server" c/epoll_echo_server.c
cc -O2 -o "$SCRATCH/epoll_load_client" c/epoll_load_client.c

SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# start_server SYSTEM: sets SERVER_PID and PORT.
start_server() {
  local out; out=$(mktemp)
  case $1 in
    c) "$SCRATCH/epoll_echo_server" 0 >"$out" 2>&1 & ;;
    souk) "$BIN/rpcbench-souk-server" --handlers global >"$out" 2>&1 & ;;
    souk-loop) "$BIN/rpcbench-souk-server" --handlers event-loop >"$out" 2>&1 & ;;
    *) "$BIN/rpcbench-server" --kind "$1" >"$out" 2>&1 & ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^listening on //p' "$out")
    [ -n "$PORT" ] && break
    sleep 0.05
  done
  rm -f "$out"
  [ -n "$PORT" ] || { echo "run.sh: the $1 server did not start" >&2; exit 1; }
}

client_kind() { case $1 in souk|souk-loop) echo souk ;; grpc) echo grpc ;; *) echo nio ;; esac; }

# load SYSTEM CONCURRENCY CONNECTIONS: prints "calls/s p50 p99".
load() {
  local line
  if [ "$1" = c ]; then
    line=$("$SCRATCH/epoll_load_client" "$PORT" "$2" "$3" "$DURATION" "$WARMUP" 100)
  else
    local callers=pool
    [ "$1" = souk-loop ] && callers=loop
    line=$("$BIN/rpcbench-client" --kind "$(client_kind "$1")" --port "$PORT" --concurrency "$2" --connections "$3" \
             --duration "$DURATION" --warmup "$WARMUP" --payload 100 --callers "$callers" | grep '^RESULT')
  fi
  echo "$line" | awk '{ print $2, $3, $4 }'
}

declare -A NAME=([souk]="Souk RPC (defaults)" [souk-loop]="Souk RPC (event-loop executors)"
                 [grpc]="grpc-swift-2 (HTTP/2 Posix)" [nio]="bare SwiftNIO echo" [c]="C epoll echo")
ROWS=()
for system in $SYSTEMS; do
  echo "measuring $system..." >&2
  start_server "$system"
  sleep 0.5
  idle=$(rss_kb "$SERVER_PID")
  # 100 idle connections, each having made one call (Souk, gRPC) or one echo.
  holder_out=$(mktemp)
  "$BIN/rpcbench-client" --kind "$(client_kind "$system")" --port "$PORT" --idle 100 --hold 3 >"$holder_out" 2>&1 &
  holder=$!
  for _ in $(seq 200); do grep -q ready "$holder_out" && break; sleep 0.05; done
  sleep 1
  with100=$(rss_kb "$SERVER_PID")
  wait "$holder" || true
  rm -f "$holder_out"
  read -r a_rate a_p50 a_p99 <<<"$(load "$system" 1 1)"
  read -r b_rate b_p50 b_p99 <<<"$(load "$system" 64 1)"
  read -r c_rate c_p50 c_p99 <<<"$(load "$system" 64 8)"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  per_conn=$(( (with100 - idle) * 1024 / 100 ))
  ROWS+=("$(printf '| %-36s | %8s | %7s | %7s | %9s | %7s | %7s | %9s | %7s | %7s | %6.1f MB | %6s B |' \
    "${NAME[$system]}" "$a_rate" "$a_p50" "$a_p99" "$b_rate" "$b_p50" "$b_p99" "$c_rate" "$c_p50" "$c_p99" \
    "$(echo "$idle / 1024" | bc -l)" "$per_conn")")
done

echo
echo "RPC echo, 100-byte payloads, ${DURATION} s per cell after ${WARMUP} s warm-up; $(nproc) cores shared by client and server."
echo "(a) 1 call in flight; (b) 64 in flight on 1 connection; (c) 64 in flight over 8 connections. Latencies in µs."
printf '| %-36s | %8s | %7s | %7s | %9s | %7s | %7s | %9s | %7s | %7s | %9s | %8s |\n' \
  system "(a) /s" "a p50" "a p99" "(b) /s" "b p50" "b p99" "(c) /s" "c p50" "c p99" "RSS idle" "+/conn"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do echo "$row"; done
