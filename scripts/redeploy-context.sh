#!/usr/bin/env bash
# The -c options that deploy onto what `make destroy` kept (deployment/derived.py, redeploy_context):
#   scripts/redeploy-context.sh [-c key=value ...]      (make redeploy-context CDK_ARGS="-c ...")
# A created bucket's name carries the account, so the AWS CLI's credentials name it (a --profile
# among the options selects them, as for cdk). Bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
account=$(aws sts get-caller-identity --query Account --output text)
.venv/bin/python -m deployment.cli "$@" --account "$account" --print redeploy_context
