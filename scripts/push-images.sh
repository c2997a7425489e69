#!/usr/bin/env bash
# The guide's Step 6 for every function's image: log in to ECR, build, tag, push.
#   scripts/push-images.sh TAG [-c key=value ...]     (make images IMAGE_TAG=TAG CDK_ARGS="-c ...")
# Then deploy with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=TAG (which pins the pushed digests).
# Repository URIs come from the deployed images stack, so deploy it first: make deploy-images
# Roles, region, stack, each image's build arguments and tag come from the validated configuration
# (cdk.json and the same -c overrides as cdk gets), never from cdk.json read raw. Bash 3.2 (macOS).
#
# A tag names committed sources: the script refuses to build while the files the images are built
# from have uncommitted changes. Each image is pushed as TAG plus its build arguments' values
# (clip and batch: TAG-fp32 or TAG-int8), so a pushed tag names one build. A tag already in a
# repository whose tags ECR says are immutable is that build: it is kept, not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:?usage: $0 TAG [-c key=value ...]}
shift

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
cli() { .venv/bin/python -m deployment.cli "$@" -c "image_tag=$tag"; }
config=$(cli "$@" --print region images_stack_name roles)
region=$(printf '%s\n' "$config" | sed -n 1p)
stack=$(printf '%s\n' "$config" | sed -n 2p)
roles=$(printf '%s\n' "$config" | sed -n 3p)

# What the images copy (lambda_*/Dockerfile.dockerignore), and those lists themselves.
sources="clipsearch requirements-model.lock requirements-export.lock requirements-torch.lock .dockerignore"
for role in $roles; do sources="$sources lambda_$role"; done
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
for role in $roles; do
  settings=$(cli "$@" --print "$role.image_tag" "$role.build_args")
  image_tag=$(printf '%s\n' "$settings" | sed -n 1p)
  build_args=""
  for argument in $(printf '%s\n' "$settings" | sed -n 2p); do
    build_args="$build_args --build-arg $argument"
  done
  # the images stack's outputs are <Role>RepositoryUri
  output_key="$(printf '%s' "${role:0:1}" | tr '[:lower:]' '[:upper:]')${role:1}RepositoryUri"
  uri=$(output "$output_key")
  if [ -z "$uri" ] || [ "$uri" = "None" ]; then
    echo "no $output_key output in stack $stack ($region): run make deploy-images first" >&2
    exit 1
  fi
  repository=${uri#*/}
  # ECR's word on the repository, not the configuration's (which may have changed since).
  mutability=$(aws ecr describe-repositories --region "$region" --repository-names "$repository" \
    --query 'repositories[0].imageTagMutability' --output text)
  if [ "$mutability" != MUTABLE ] && digest=$(digest_of "$repository" "$image_tag"); then
    echo "${uri}:${image_tag} is already pushed (${digest}); immutable tags are never rebuilt"
    continue
  fi
  registry=${uri%%/*}
  if [ "$logged_in" != "$registry" ]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=$registry
  fi
  # shellcheck disable=SC2086 # one option per word
  docker build --platform linux/amd64 --provenance=false $build_args \
    -f "lambda_${role}/Dockerfile" -t "${uri}:${image_tag}" .
  docker push "${uri}:${image_tag}"
done
echo "Pushed tag ${tag}. Deploy it with: make deploy IMAGE_SOURCE=ecr IMAGE_TAG=${tag}"
