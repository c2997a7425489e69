#!/usr/bin/env bash
# The ecr mode's image_tag resolved to each image's digest, as cdk options:
#   scripts/image-digests.sh [-c key=value ...]
#   -> -c clip_image_digest=sha256:... -c search_image_digest=sha256:... -c batch_image_digest=sha256:...
# `make deploy` and `make diff` pass these to cdk, so a deploy pins the exact images it resolved (a
# re-pushed mutable tag or a rebuilt image changes the template). Each image's tag is image_tag
# with its build arguments (clip and batch: <tag>-<precision>), as scripts/push-images.sh pushed it.
# Prints nothing in asset mode. Same configuration as cdk (cdk.json and the -c overrides); bash 3.2.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"

cli() { .venv/bin/python -m deployment.cli "$@"; }
config=$(cli "$@" --print image_source region roles)
[ "$(printf '%s\n' "$config" | sed -n 1p)" = ecr ] || exit 0
region=$(printf '%s\n' "$config" | sed -n 2p)

options=""
for role in $(printf '%s\n' "$config" | sed -n 3p); do
  image=$(cli "$@" --print "$role.repository_name" "$role.image_tag")
  repository=$(printf '%s\n' "$image" | sed -n 1p)
  tag=$(printf '%s\n' "$image" | sed -n 2p)
  digest=$(aws ecr describe-images --region "$region" --repository-name "$repository" \
    --image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text) || digest=""
  case $digest in
    sha256:*) options="$options -c ${role}_image_digest=$digest" ;;
    *)
      echo "no image ${repository}:${tag} in $region: push it first (make images IMAGE_TAG=...)" >&2
      exit 1
      ;;
  esac
done
printf '%s\n' "${options# }"
