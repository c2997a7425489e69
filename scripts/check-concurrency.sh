#!/usr/bin/env bash
# Before `make deploy`: can this account give the search path its reserved concurrency, and how
# much is left for a backfill? A new account's Lambda quota can be 10, and Lambda keeps at least 10
# unreserved, so there nothing can be reserved (the deploy would fail half way).
#   scripts/check-concurrency.sh [-c key=value ...]
# Fails naming search_reserved_concurrency when the reservation does not fit; warns when
# batch_max_concurrency is more than the unreserved pool left (a backfill is then throttled).
# Same configuration as cdk (cdk.json and the -c overrides); bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
config=$(.venv/bin/python -m deployment.cli "$@" --print region search_reserved_concurrency \
  batch_max_concurrency search.function_name clip.function_name)
line() { printf '%s\n' "$config" | sed -n "$1p"; }
region=$(line 1)
reserved=$(line 2)
batch=$(line 3)
# Lambda keeps this much of the quota unreserved (its documented minimum).
minimum=10

read -r quota unreserved <<<"$(aws lambda get-account-settings --region "$region" \
  --query '[AccountLimit.ConcurrentExecutions, AccountLimit.UnreservedConcurrentExecutions]' \
  --output text)"
# What our two functions reserve already (a redeploy) goes back into the pool first.
available=$unreserved
for function in "$(line 4)" "$(line 5)"; do
  current=$(aws lambda get-function-concurrency --region "$region" --function-name "$function" \
    --query ReservedConcurrentExecutions --output text 2>/dev/null) || current=None
  case $current in '' | None) ;; *) available=$((available + current)) ;; esac
done
left=$((available - 2 * reserved))
if [ "$reserved" -gt 0 ] && [ "$left" -lt "$minimum" ]; then
  echo "search_reserved_concurrency: reserving $reserved for the search and $reserved for the CLIP" \
    "function leaves $left of this account's $quota unreserved in $region; Lambda keeps at least" \
    "$minimum. Ask for a higher quota (Service Quotas, Lambda 'Concurrent executions', L-B99A9384)," \
    "or deploy with -c search_reserved_concurrency=0 (then a backfill can starve searches)." >&2
  exit 1
fi
if [ "$batch" -gt "$left" ]; then
  echo "note: batch_max_concurrency $batch is more than the $left left unreserved in $region:" \
    "a backfill will be throttled (and its throttle alarm fires); searches keep their share." >&2
fi
