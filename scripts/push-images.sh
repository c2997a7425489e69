#!/usr/bin/env bash
# The guide's Step 6 for all three images: log in to ECR, build, tag, push.
#   scripts/push-images.sh TAG [-c key=value ...]     (make images IMAGE_TAG=TAG CDK_ARGS="-c ...")
# Then deploy with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=TAG
# Repository URIs come from the deployed images stack, so deploy it first: make deploy-images
# Region and stack name come from the validated configuration (cdk.json and the same -c overrides
# as cdk gets), never from cdk.json read raw. Portable to bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:?usage: $0 TAG [-c key=value ...]}
shift
config=$(.venv/bin/python -m stacks.config "$@" --print region images_stack_name)
region=$(printf '%s\n' "$config" | sed -n 1p)
stack=$(printf '%s\n' "$config" | sed -n 2p)

output() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

logged_in=""
# role:output prefix (the images stack's outputs are <Role>RepositoryUri)
for pair in clip:Clip search:Search batch:Batch; do
  role=${pair%%:*}
  uri=$(output "${pair#*:}RepositoryUri")
  if [ -z "$uri" ] || [ "$uri" = "None" ]; then
    echo "no ${pair#*:}RepositoryUri output in stack $stack ($region): run make deploy-images first" >&2
    exit 1
  fi
  registry=${uri%%/*}
  if [ "$logged_in" != "$registry" ]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=$registry
  fi
  docker build --platform linux/amd64 --provenance=false -f "lambda_${role}/Dockerfile" -t "${uri}:${tag}" .
  docker push "${uri}:${tag}"
done
echo "Pushed tag ${tag}. Deploy it with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=${tag}"
