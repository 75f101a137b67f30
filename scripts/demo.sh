#!/usr/bin/env bash
# make demo: the collector on its embedded default configuration, fed with
# Bookinfo traffic by istiotel loadgen; prints a few series and log lines.
set -eu
cd "$(dirname "$0")/.."
bin=bin
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

echo "starting otelcol-istio (embedded default: Mixer API on :9091, metrics on :42422)"
"$bin/otelcol-istio" >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 1 100); do
	curl -sf localhost:13133/ >/dev/null && break
	sleep 0.1
done
curl -sf localhost:13133/ >/dev/null || { echo "collector did not start:"; cat "$out/stderr"; exit 1; }

echo "sending Bookinfo traffic: istiotel loadgen --requests 50 --tcp-every 10"
"$bin/istiotel" loadgen --target localhost:9091 --requests 50 --tcp-every 10 --progress=false

echo "waiting for the next metrics flush (5s)…"
for _ in $(seq 1 100); do
	curl -s localhost:42422/metrics | grep -q '^istio_requests_total' && break
	sleep 0.1
done

echo
echo "== a few series from http://localhost:42422/metrics"
curl -s localhost:42422/metrics | grep -E '^istio_(requests_total|tcp_connections_opened_total)\{' | head -6
echo
echo "== the first accesslog lines on the collector's stdout"
head -n 3 "$out/stdout"
echo
echo "($(wc -l <"$out/stdout") log lines in all)"
