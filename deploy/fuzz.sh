#!/usr/bin/env bash
# Runs every fuzz target of verwerker for a few seconds each (make test runs it after go test):
#
#   deploy/fuzz.sh              each target for FUZZTIME (default 4s)
#   FUZZTIME=5m deploy/fuzz.sh  a longer hunt
#
# The targets: the JSON request decoders (api: the body scanner FuzzJSONScan, the decision
# fast path's parser FuzzFastQuestion, and FuzzRequestBodies, every operation's body through
# the whole handler on a real database, which needs VERWERKER_TEST_DATABASE_URL: no panic, no
# 5xx), the deadline arithmetic (deadline: FuzzDeadline, FuzzParsePeriod) and the audit
# canonical encoding (audit: FuzzCanonical). Their seed corpora are in each package's
# testdata/fuzz/<target>/; an input that fails is written there too, so commit it with the fix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-4s}
GO=${GO:-go}

targets=(
  "./api FuzzJSONScan"
  "./api FuzzFastQuestion"
  "./api FuzzRequestBodies"
  "./deadline FuzzDeadline"
  "./deadline FuzzParsePeriod"
  "./audit FuzzCanonical"
)
start=$SECONDS
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "deploy/fuzz.sh: $pkg $name for $FUZZTIME" >&2
  "$GO" test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 2 >/tmp/verwerker-fuzz.$$ 2>&1 || {
    cat /tmp/verwerker-fuzz.$$ >&2; rm -f /tmp/verwerker-fuzz.$$
    echo "deploy/fuzz.sh: $name found a failing input (written to $pkg/testdata/fuzz/$name/)" >&2
    exit 1
  }
  grep -E '^fuzz: elapsed: .*execs' /tmp/verwerker-fuzz.$$ | tail -1 >&2 || true
done
rm -f /tmp/verwerker-fuzz.$$
echo "deploy/fuzz.sh: ${#targets[@]} fuzz targets passed in $((SECONDS - start)) s" >&2
