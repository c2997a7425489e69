#!/usr/bin/env bash
# The guide's Step 6 for all three images: log in to ECR, build, tag, push.
#   scripts/push-images.sh TAG        (make images IMAGE_TAG=TAG)
# Then deploy with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=TAG
# Repository URIs come from the deployed images stack, so deploy it first:
#   make deploy STACKS=ClipFrameSearch-Images
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:?usage: $0 TAG}
context() { .venv/bin/python -c "import json,sys; print(json.load(open('cdk.json'))['context'][sys.argv[1]])" "$1"; }
region=${AWS_REGION:-$(context region)}
stack=${IMAGES_STACK:-$(context stack_name)-Images}

output() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

logged_in=""
for role in clip search batch; do
  uri=$(output "${role^}RepositoryUri")
  registry=${uri%%/*}
  if [[ "$logged_in" != "$registry" ]]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=$registry
  fi
  docker build --platform linux/amd64 --provenance=false -f "lambda_${role}/Dockerfile" -t "${uri}:${tag}" .
  docker push "${uri}:${tag}"
done
echo "Pushed tag ${tag}. Deploy it with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=${tag}"
