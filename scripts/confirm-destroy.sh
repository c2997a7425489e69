#!/usr/bin/env bash
# Before `make destroy`: say what deleting the service stack loses for good, and go on only once the
# stack's name is typed (or given as CONFIRM=<stack name>, without a terminal).
#   scripts/confirm-destroy.sh [-c key=value ...]
# The Cognito user pool goes with the stack (its users, passwords and MFA: no data of the videos),
# so a redeploy creates an empty pool and everyone is invited again; the buckets, the table, the
# vector index and the repositories are kept (docs/operators/deploy.md, "Destroy and redeploy"). Bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
config=$(.venv/bin/python -m deployment.cli "$@" --print region service_stack_name)
region=$(printf '%s\n' "$config" | sed -n 1p)
stack=$(printf '%s\n' "$config" | sed -n 2p)

pool=$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='UserPoolId'].OutputValue" --output text 2>/dev/null) || pool=""
echo "Deleting $stack ($region) keeps the buckets, the table, the vector index and the repositories." >&2
if [ -n "$pool" ] && [ "$pool" != None ]; then
  users=$(aws cognito-idp describe-user-pool --region "$region" --user-pool-id "$pool" \
    --query UserPool.EstimatedNumberOfUsers --output text) || users="its"
  echo "It DELETES the Cognito user pool $pool and its $users users (passwords, MFA): a redeploy" \
    "creates an empty pool, and every user must be invited again." >&2
fi
answer=${CONFIRM:-}
if [ -z "$answer" ] && [ -t 0 ]; then
  printf 'Type %s to delete it: ' "$stack" >&2
  read -r answer
fi
if [ "$answer" != "$stack" ]; then
  echo "not confirmed: nothing deleted (make destroy CONFIRM=$stack confirms without a terminal)" >&2
  exit 1
fi
