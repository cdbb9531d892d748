#!/usr/bin/env bash
# audit-verify.sh: verify a tenant's whole audit chain and its signed
# checkpoints without trusting verwerker, with bash, curl, jq, sha256sum,
# base64 and OpenSSL 3 only (see docs/audit.md).
#
# Usage: KEY=vwk_... deploy/audit-verify.sh BASE_URL TENANT_ID [DIR]
#
#   KEY        an API key of the tenant with audit:read (controller_admin or auditor)
#   BASE_URL   e.g. https://verwerker.example or http://127.0.0.1:8080
#   DIR        where the downloads are kept (default: audit-TENANT_ID-<UTC time>);
#              keep them: a later download must still contain these checkpoints
#
# It follows after_seq through every page of the tenant's events
# (GET /v1/tenants/{tenant_id}/audit/events) and checkpoints
# (GET /v1/tenants/{tenant_id}/audit/checkpoints), fetches the public signing
# keys (GET /v1/audit/signing-keys), and checks:
#   1. the events are numbered 1, 2, 3, ... without a gap;
#   2. each event's prev_hash is the previous event's hash (64 zeros for the first);
#   3. each event's canonical bytes are its fields as a JSON object with sorted
#      keys and no whitespace;
#   4. each event's hash is SHA-256 over the 32 bytes of prev_hash followed by
#      the canonical bytes;
#   5. each signing key's id is ed25519: and the first 16 hex digits of the
#      SHA-256 of its 32 bytes;
#   6. each checkpoint's Ed25519 signature verifies over the five-line message
#      rebuilt from its fields, with the key it names;
#   7. the event each checkpoint names is in the chain with the signed hash.
# It exits 0 after printing the number of events, the head and the checkpoints,
# and exits 1 at the first check that fails, naming the event or checkpoint.
set -euo pipefail

usage="usage: KEY=vwk_... $0 BASE_URL TENANT_ID [DIR]"
base=${1:?$usage}
tenant=${2:?$usage}
dir=${3:-audit-$tenant-$(date -u +%Y%m%dT%H%M%SZ)}
: "${KEY:?$usage (KEY: an API key of the tenant with audit:read)}"
for tool in curl jq sha256sum base64 openssl; do
	command -v "$tool" >/dev/null || { echo "$0: $tool is needed" >&2; exit 2; }
done
base=${base%/}
mkdir -p "$dir"
cd "$dir"

fail() {
	echo "$*" >&2
	exit 1
}

# get PATH: the body of a GET; an error response is printed and ends the run.
get() {
	local body status
	body=$(curl -sS -w '\n%{http_code}' -H "Authorization: Bearer $KEY" "$base$1") || fail "GET $1 failed"
	status=${body##*$'\n'}
	body=${body%$'\n'*}
	[ "$status" = 200 ] || fail "GET $1: HTTP $status $body"
	printf '%s\n' "$body"
}

# page PATH AFTER: one page of the list at PATH after sequence number AFTER,
# one JSON object a line.
page() {
	get "$1?limit=1000&after_seq=$2" | jq -c '.items[]'
}

# 1-4: the chain, page by page until an empty page. For each page one jq
# gives, per event: seq, prev_hash, prev_hash as %HH bytes, hash, canonical
# as served and canonical as rebuilt from the fields. The loop checks 1-3
# and writes each event's hashed bytes (prev_hash's 32 bytes, then the
# canonical bytes) to a file; one sha256sum then checks 4 for the page.
declare -A hashes
prev=$(printf '0%.0s' {1..64})
want=1
: >events.jsonl
while :; do
	page "/v1/tenants/$tenant/audit/events" $((want - 1)) >page.jsonl
	[ -s page.jsonl ] || break
	cat page.jsonl >>events.jsonl
	rm -rf hashed && mkdir hashed
	while IFS=$'\t' read -r seq prev_hash prev_bytes hash canonical rebuilt; do
		[ "$seq" = "$want" ] || fail "event $want is missing (the next event is $seq)"
		[ "$prev_hash" = "$prev" ] || fail "broken link at event $seq: prev_hash is not the hash of event $((seq - 1))"
		[ "$canonical" = "$rebuilt" ] || fail "event $seq: its canonical bytes are not its fields"
		printf '%b%s' "${prev_bytes//%/\\x}" "$rebuilt" >"hashed/$seq"
		hashes[$seq]=$hash
		prev=$hash
		want=$((seq + 1))
	done < <(jq -r '[(.seq | tostring), .prev_hash, (.prev_hash | [scan("..")] | map("%" + .) | add), .hash, .canonical,
		({action, actor, at, chain, id, outcome, reason, resource, seq} | to_entries | sort_by(.key) | from_entries | tojson)] | @tsv' page.jsonl)
	while read -r h seq; do
		[ "$h" = "${hashes[$seq]}" ] || fail "bad hash at event $seq"
	done < <(cd hashed && ls | sort -n | xargs sha256sum)
done
rm -rf hashed page.jsonl
echo "chain verifies: $((want - 1)) events, head event $((want - 1)) hash $prev"

# The checkpoints, page by page.
: >checkpoints.jsonl
after=0
while :; do
	page "/v1/tenants/$tenant/audit/checkpoints" "$after" >page.jsonl
	[ -s page.jsonl ] || break
	cat page.jsonl >>checkpoints.jsonl
	after=$(tail -n 1 page.jsonl | jq .seq)
done
rm -f page.jsonl
get /v1/audit/signing-keys >signing-keys.json

# 5: the keys, each once.
declare -A pems
while IFS=$'\t' read -r kid public; do
	id=$(base64 -d <<<"$public" | sha256sum)
	[ "ed25519:${id:0:16}" = "$kid" ] || fail "key $kid: its id does not match the key"
	pems[$kid]="key-${kid#ed25519:}.pem"
	jq -r --arg k "$kid" '.items[] | select(.key_id == $k) | .public_key_pem' signing-keys.json >"${pems[$kid]}"
done < <(jq -r '.items[] | [.key_id, .public_key] | @tsv' signing-keys.json)

# 6-7: each checkpoint.
n=0
last="none"
while IFS=$'\t' read -r seq kid chain hash signed_at signature; do
	[ -n "${pems[$kid]:-}" ] || fail "checkpoint of event $seq: unknown key $kid"
	printf 'verwerker-audit-checkpoint/v1\nchain=%s\nseq=%s\nhash=%s\nsigned_at=%s\n' "$chain" "$seq" "$hash" "$signed_at" >msg
	base64 -d <<<"$signature" >sig
	openssl pkeyutl -verify -pubin -inkey "${pems[$kid]}" -rawin -in msg -sigfile sig >/dev/null 2>&1 ||
		fail "checkpoint of event $seq: bad signature"
	[ "$chain" = "$tenant" ] || fail "checkpoint of event $seq: signed for chain $chain"
	[ "${hashes[$seq]:-}" = "$hash" ] ||
		fail "event $seq is missing or differs from the checkpoint signed at $signed_at"
	n=$((n + 1))
	last="event $seq, signed at $signed_at"
done < <(jq -r '[(.seq | tostring), .key_id, .chain, .hash, .signed_at, .signature] | @tsv' checkpoints.jsonl)
rm -f msg sig
echo "$n checkpoints verify (last: $last)"
echo "downloads kept in $PWD"
