#!/usr/bin/env bash
# CI's publish job, before building ROLE's image: `digest=<sha256:...>` when its tag is already in
# its repository and ECR says the repository's tags are immutable (that build is kept, as
# scripts/push-images.sh keeps it), else `digest=` (build and push it).
#   scripts/image-pushed.sh ROLE [-c key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."

role=${1:?usage: $0 ROLE [-c key=value ...]}
shift
# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
config=$(.venv/bin/python -m deployment.cli "$@" --print region "$role.repository_name" "$role.image_tag")
region=$(printf '%s\n' "$config" | sed -n 1p)
repository=$(printf '%s\n' "$config" | sed -n 2p)
tag=$(printf '%s\n' "$config" | sed -n 3p)
mutability=$(aws ecr describe-repositories --region "$region" --repository-names "$repository" \
  --query 'repositories[0].imageTagMutability' --output text)
digest=""
if [ "$mutability" != MUTABLE ]; then
  digest=$(aws ecr describe-images --region "$region" --repository-name "$repository" \
    --image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null) || digest=""
fi
echo "digest=${digest}"
