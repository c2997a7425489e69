#!/usr/bin/env bash
# This app's own CDK bootstrap, once per account and region (make bootstrap CDK_ARGS="-c ..."):
#   1. the CloudFormation execution policies (python -m deployment.bootstrap_policy): what the
#      service and repositories stacks need, instead of the default bootstrap's AdministratorAccess;
#      created, or updated to a new default version;
#   2. cdk bootstrap with the configured qualifier in its own toolkit stack, CDKToolkit-<qualifier>:
#      never the account's default CDKToolkit, which other CDK apps deploy through.
# Same configuration as cdk (cdk.json and the -c overrides; a --profile selects the credentials).
# Bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
config=$(.venv/bin/python -m deployment.cli "$@" --print region cdk_qualifier toolkit_stack_name)
region=$(printf '%s\n' "$config" | sed -n 1p)
qualifier=$(printf '%s\n' "$config" | sed -n 2p)
toolkit=$(printf '%s\n' "$config" | sed -n 3p)
read -r account partition <<<"$(aws sts get-caller-identity --query '[Account, Arn]' --output text |
  sed 's/arn:\([^:]*\):.*/\1/')"

policies=""
n=0
while IFS= read -r document; do
  n=$((n + 1))
  name="ClipFrameSearch-cfn-exec-${qualifier}-${region}-${n}"
  arn="arn:${partition}:iam::${account}:policy/${name}"
  if aws iam get-policy --policy-arn "$arn" >/dev/null 2>&1; then
    # IAM keeps five versions: drop the old ones, then make this one the default.
    for version in $(aws iam list-policy-versions --policy-arn "$arn" \
      --query 'Versions[?!IsDefaultVersion].VersionId' --output text); do
      aws iam delete-policy-version --policy-arn "$arn" --version-id "$version"
    done
    aws iam create-policy-version --policy-arn "$arn" --policy-document "$document" --set-as-default >/dev/null
  else
    aws iam create-policy --policy-name "$name" --policy-document "$document" \
      --description "CloudFormation execution policy of the CLIP frame search (bootstrap $qualifier)" >/dev/null
  fi
  policies="${policies},${arn}"
done <<<"$(.venv/bin/python -m deployment.bootstrap_policy "$@" --account "$account" --partition "$partition")"

npx --no-install cdk --no-notices bootstrap "aws://${account}/${region}" --qualifier "$qualifier" \
  --toolkit-stack-name "$toolkit" --cloudformation-execution-policies "${policies#,}" "$@"
