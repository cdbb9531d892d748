#!/usr/bin/env bash
# Runs every benchmark, then prints the side-by-side comparisons as ratios,
# then loads one replica and soaks it (LOAD_RATE, LOADTIME, SOAKTIME: see the end).
# Used by `make bench`; VERWERKER_TEST_DATABASE_URL must point at PostgreSQL and
# VERWERKER_TEST_VAULT_ADDR/_TOKEN at Vault (deploy/vault.sh env).
set -euo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-2s}" ./... | tee "$out"

# metric NAME UNIT: the value reported for benchmark NAME in UNIT.
metric() { awk -v n="$1" -v u="$2" '$1 ~ "^"n"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$out" | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

echo
echo "== side by side =="
g=$(metric BenchmarkAppend/group-commit events/s)
o=$(metric BenchmarkAppend/one-per-commit events/s)
printf 'audit append, chain + synchronous commit: group commit %.0f events/s vs one per commit %.0f events/s = %sx (goal >= 30000 events/s and >= 10x)\n' "${g:-0}" "${o:-0}" "$(ratio "${g:-0}" "${o:-0}")"
c=$(metric BenchmarkAuthorize/compiled ns/op)
e=$(metric BenchmarkAuthorize/casbin ns/op)
printf 'authorization at 1,000 tenants: compiled table %.0f ns/op (version-checked, goal <= 1000 ns) vs Casbin Enforce %.0f ns/op = %sx faster\n' "${c:-0}" "${e:-0}" "$(ratio "${e:-0}" "${c:-0}")"
s=$(metric BenchmarkSeal/cached-data-key ns/op)
v=$(metric BenchmarkSeal/transit-encrypt ns/op)
printf 'sealing a 512-byte message: cached per-subject data key %.0f ns/op vs Vault transit/encrypt per message %.0f ns/op = %sx faster (goal >= 100x)\n' "${s:-0}" "${v:-0}" "$(ratio "${v:-0}" "${s:-0}")"

xv=$(metric BenchmarkExport/verwerker ms/export)
xr=$(metric BenchmarkExport/verwerker rows/s)
xp=$(metric BenchmarkExport/psql-copy ms/export)
xpr=$(metric BenchmarkExport/psql-copy rows/s)
xc=$(metric BenchmarkExport/verwerker vault-calls/cold-export)
xw=$(metric BenchmarkExport/verwerker vault-calls/warm-export)
printf 'export of one subject with 20,000 messages, decrypted, warm: %.1f ms (%.0f rows/s; goal <= 150 ms) vs psql COPY (SELECT ...) TO STDOUT of the same sealed rows %.1f ms (%.0f rows/s) = %sx the throughput (goal >= 0.8x); Vault calls per export: %s cold, %s warm (per subject, not per message)\n' \
  "${xv:-0}" "${xr:-0}" "${xp:-0}" "${xpr:-0}" "$(ratio "${xr:-0}" "${xpr:-0}")" "${xc:-n/a}" "${xw:-n/a}"

zv=$(metric BenchmarkRequestExport/zip ms/export)
zr=$(metric BenchmarkRequestExport/zip rows/s)
zp=$(metric BenchmarkRequestExport/psql-copy ms/export)
zpr=$(metric BenchmarkRequestExport/psql-copy rows/s)
zb=$(metric BenchmarkRequestExport/zip-before ms/export)
printf 'data-subject request export ZIP of one subject with 20,000 messages (records.json + CSV per kind + summary), warm: %.1f ms (%.0f rows/s; goal <= 300 ms) vs psql COPY of the same sealed rows %.1f ms (%.0f rows/s) = %sx the throughput (goal >= 0.8x); before streaming %.1f ms (%sx slower)\n' \
  "${zv:-0}" "${zr:-0}" "${zp:-0}" "${zpr:-0}" "$(ratio "${zr:-0}" "${zpr:-0}")" "${zb:-0}" "$(ratio "${zb:-0}" "${zv:-0}")"
sw=$(metric BenchmarkRequestSweep ms/sweep)
printf 'reminder and deadline sweep over 100,000 open data-subject requests: %.1f ms (goal <= 1000 ms)\n' "${sw:-0}"

p10=$(metric 'BenchmarkDecide/customers=10' p50-ns)
p10k=$(metric 'BenchmarkDecide/customers=10000' p50-ns)
rego=$(metric BenchmarkRego/rego ns/op)
table=$(metric BenchmarkRego/table ns/op)
printf 'in-process decision (a small part of an HTTP decision; the HTTP figures below are what a user sees): p50 %.0f ns at 10 customers, %.0f ns at 10,000 customers; one compiled-table lookup %.0f ns/op vs Rego without the table %.0f ns/op\n' \
  "${p10:-0}" "${p10k:-0}" "${table:-0}" "${rego:-0}"

ov=$(metric BenchmarkOverview p50-ms)
ov95=$(metric BenchmarkOverview p95-ms)
printf 'dashboard overview, server time at 1,000 customers and a year of decisions: p50 %s ms, p95 %s ms (goal p50 <= 50 ms)\n' "${ov:-n/a}" "${ov95:-n/a}"
for pg in overview customers customer agreement subprocessors notices audit signin; do
  printf 'dashboard page %s with its assets: %s KB, %s references to other sites (goal <= 150 KB, 0)\n' "$pg" "$(metric BenchmarkPageWeight "KB-$pg")" "$(metric BenchmarkPageWeight "external-$pg")"
done

pd=$(metric BenchmarkPurge/delete-vacuum rows/s)
pdw=$(metric BenchmarkPurge/delete-vacuum wal-bytes)
pp=$(metric BenchmarkPurge/partition-drop rows/s)
pps=$(metric BenchmarkPurge/partition-drop s)
ppw=$(metric BenchmarkPurge/partition-drop wal-bytes)
pu=$(metric BenchmarkPurge/partition-unaligned-delete rows/s)
lk=$(metric BenchmarkPurge/lookup-by-id us/lookup)
lp=$(metric BenchmarkPurge/lookup-by-id partitions)
printf 'purge of %s expired messages on the real records table (partitioned by deadline month): retention job dropping the month partition %.0f rows/s (%.2f s, with ledger, certificate and audit), %.0f WAL bytes vs batched DELETE + VACUUM %.0f rows/s, %.0f WAL bytes = %sx faster, WAL %s%% (goal >= 10x, <= 1%%); deadlines not aligned with partitions, windowed DELETE: %.0f rows/s (goal >= 250000); lookup by id over %s partitions: %.0f us (an index probe per partition)\n' \
  "${VERWERKER_BENCH_PURGE_ROWS:-1000000}" "${pp:-0}" "${pps:-0}" "${ppw:-0}" "${pd:-0}" "${pdw:-0}" "$(ratio "${pp:-0}" "${pd:-0}")" \
  "$(awk -v a="${ppw:-0}" -v b="${pdw:-0}" 'BEGIN { if (b > 0) printf "%.3f", 100 * a / b; else print "n/a" }')" "${pu:-0}" "${lp:-n/a}" "${lk:-0}"
sh=$(metric BenchmarkShred/sweep subjects/s)
shm=$(metric BenchmarkShred/sweep min-subjects/s)
printf 'retention sweep crypto-shredding %s subjects past their deadline (one message each), with ledger, certificate and audit, three rounds: median %.0f subjects/s, slowest %.0f subjects/s (goal >= 10000)\n' "${VERWERKER_BENCH_SHRED_SUBJECTS:-10000}" "${sh:-0}" "${shm:-0}"
fp=$(metric BenchmarkForecast/platform ms/forecast)
fc=$(metric BenchmarkForecast/platform-count ms/count)
fo=$(metric BenchmarkForecast/one-customer ms/forecast)
printf 'deletion forecast over %s records of 1,000 customers: platform-wide for the DPO %.2f ms (goal <= 100 ms; read from the counts the forecast job makes every 15 minutes, one pass: %.0f ms), one customer %.2f ms\n' "${VERWERKER_BENCH_FORECAST_RECORDS:-10000000}" "${fp:-0}" "${fc:-0}" "${fo:-0}"

i1=$(metric 'BenchmarkImpact/window=1d' ms/impact)
i7=$(metric 'BenchmarkImpact/window=7d' ms/impact)
i7c=$(metric 'BenchmarkImpact/window=7d/category' ms/impact)
fo=$(metric BenchmarkNotify ms/fan-out)
printf 'breach impact over 10,000,000 records of 1,000 customers, exact record and subject counts per customer and category (counted from the records over their covering index): %.0f ms for a 1-day window (100,000 records), %.0f ms for 7 days (700,000), %.0f ms for 7 days of one category (goal <= 1000 ms)\n' "${i1:-0}" "${i7:-0}" "${i7c:-0}"
w1=$(metric 'BenchmarkWrite/batch=1' ms/write)
w100=$(metric 'BenchmarkWrite/batch=100' ms/write)
wp=$(metric 'BenchmarkWrite/parallel=8' records/s)
printf 'records write path (decision, subject, data key, seal, insert, commit; local keyring): %.2f ms per one-message write, %.2f ms per batch of 100, %.0f records/s from 8 writers at once\n' "${w1:-0}" "${w100:-0}" "${wp:-0}"
printf 'breach notices to 1,000 controllers, each with its notice, e-mail and delivery job committed: %.0f ms (goal <= 5000 ms)\n' "${fo:-0}"

# Decision API against an OPA server answering the same questions
# (cmd/decisionbench): the OPA server is built from source, wrk comes from
# Debian.
gobin=$(go env GOPATH)/bin
opa_version=$("$gobin/opa" version 2>/dev/null || true)
if ! grep -q '^Version: 1.22.2$' <<<"$opa_version"; then
  echo "building the OPA server (go install github.com/open-policy-agent/opa@v1.22.2)..."
  go install github.com/open-policy-agent/opa@v1.22.2
fi
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else echo "wrk is missing: sudo apt-get install wrk" >&2; exit 1; fi
fi
bin=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$bin"' EXIT
go build -o "$bin/verwerker" ./cmd/verwerker
# At 10 and at 10,000 customers (CUSTOMERS lists other counts),
# HTTPTIME per throughput run each.
for n in ${CUSTOMERS:-10 10000}; do
  go run ./cmd/decisionbench -verwerker "$bin/verwerker" -opa "$gobin/opa" -customers "$n" -duration "${HTTPTIME:-10s}"
done

# Load and soak (cmd/decisionbench -load): one replica answers LOAD_RATE
# decisions per second (default 10,000) for LOADTIME (default 60s) while
# records are written, a data-subject export runs and a sweep deletes
# 20,000 records; zero errors, p50/p99/p99.9 printed. Then SOAKTIME
# (default 2m; SOAKTIME=10m for the long soak) of mixed API traffic, failing
# if the replica's heap or goroutines grow beyond a bound. Loopback only.
go run ./cmd/decisionbench -load -verwerker "$bin/verwerker" -customers "${LOAD_CUSTOMERS:-100}" -rate "${LOAD_RATE:-10000}" \
  -load-duration "${LOADTIME:-60s}" -soak "${SOAKTIME:-2m}"
