#!/usr/bin/env bash
# The guide's Step 6 for all three images: log in to ECR, build, tag, push.
#   scripts/push-images.sh TAG [-c key=value ...]     (make images IMAGE_TAG=TAG CDK_ARGS="-c ...")
# Then deploy with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=TAG (which pins the pushed digests).
# Repository URIs come from the deployed images stack, so deploy it first: make deploy-images
# Region and stack name come from the validated configuration (cdk.json and the same -c overrides
# as cdk gets), never from cdk.json read raw. Portable to bash 3.2 (macOS).
#
# A tag names committed sources: the script refuses to build while the files the images are built
# from have uncommitted changes. With immutable tags (repository_tag_mutability=IMMUTABLE, the
# default) a tag already in a repository is that commit's image: it is kept, not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:?usage: $0 TAG [-c key=value ...]}
shift

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
config=$(.venv/bin/python -m deployment.cli "$@" --print region images_stack_name repository_tag_mutability precision)
region=$(printf '%s\n' "$config" | sed -n 1p)
stack=$(printf '%s\n' "$config" | sed -n 2p)
mutability=$(printf '%s\n' "$config" | sed -n 3p)
precision=$(printf '%s\n' "$config" | sed -n 4p)

# What the three images copy (lambda_*/Dockerfile.dockerignore), and those lists themselves.
sources="clipsearch lambda_clip lambda_search lambda_batch requirements-model.txt requirements-export.txt .dockerignore"
# shellcheck disable=SC2086 # one path per word
changes=$(git status --porcelain --untracked-files=all -- $sources)
if [ -n "$changes" ]; then
  printf '%s\n' "$changes" >&2
  echo "refusing to build: the image sources above are not committed (a tag must name one image)." >&2
  echo "Commit or stash them, then run make images again." >&2
  exit 1
fi

output() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

digest_of() { # repository tag -> the image's digest, or nothing (and status 1) when there is none
  aws ecr describe-images --region "$region" --repository-name "$1" --image-ids "imageTag=$2" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null
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
  if [ "$mutability" = IMMUTABLE ] && digest=$(digest_of "${uri#*/}" "$tag"); then
    echo "${uri}:${tag} is already pushed (${digest}); immutable tags are never rebuilt"
    continue
  fi
  registry=${uri%%/*}
  if [ "$logged_in" != "$registry" ]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=$registry
  fi
  docker build --platform linux/amd64 --provenance=false --build-arg "PRECISION=${precision}" \
    -f "lambda_${role}/Dockerfile" -t "${uri}:${tag}" .
  docker push "${uri}:${tag}"
done
echo "Pushed tag ${tag}. Deploy it with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=${tag}"
