#!/usr/bin/env bash
# The ecr mode's image_tag resolved to each image's digest, as cdk options:
#   scripts/image-digests.sh [-c key=value ...]
#   -> -c clip_image_digest=sha256:... -c search_image_digest=sha256:... -c batch_image_digest=sha256:...
# `make deploy` and `make diff` pass these to cdk, so a deploy pins the exact images it resolved (a
# re-pushed mutable tag or a rebuilt image changes the template). Prints nothing in asset mode.
# Same configuration as cdk (cdk.json and the -c overrides); bash 3.2 (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"

config=$(.venv/bin/python -m deployment.cli "$@" --print image_source region image_tag \
  clip.repository_name search.repository_name batch.repository_name)
line() { printf '%s\n' "$config" | sed -n "$1p"; }
[ "$(line 1)" = ecr ] || exit 0
region=$(line 2)
tag=$(line 3)

options=""
n=4
for role in clip search batch; do
  repository=$(line $n)
  n=$((n + 1))
  digest=$(aws ecr describe-images --region "$region" --repository-name "$repository" \
    --image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text) || digest=""
  case $digest in
    sha256:*) options="$options -c ${role}_image_digest=$digest" ;;
    *)
      echo "no image ${repository}:${tag} in $region: push it first (make images IMAGE_TAG=${tag})" >&2
      exit 1
      ;;
  esac
done
printf '%s\n' "${options# }"
