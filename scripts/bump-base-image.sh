#!/usr/bin/env bash
# The images' base images are pinned by digest (FROM <image>:<tag>@sha256:...), so a commit builds
# on the same bytes. This moves every Dockerfile's pin to its tag's current digest, the documented
# way to take a new base (security fixes): make bump-base-image, then commit; CI builds and tests it.
#   scripts/bump-base-image.sh        (needs Docker's buildx and the registry; no credentials)
set -euo pipefail
cd "$(dirname "$0")/.."

for dockerfile in lambda_*/Dockerfile; do
  images=$(sed -n -E 's/^FROM ([^ @]+)@sha256:[0-9a-f]{64}.*/\1/p' "$dockerfile" | sort -u)
  for image in $images; do
    digest=$(docker buildx imagetools inspect "$image" --format '{{json .Manifest.Digest}}' | tr -d '"')
    case $digest in
      sha256:*) ;;
      *)
        echo "no digest for $image: $digest" >&2
        exit 1
        ;;
    esac
    sed -i.bak -E "s#^FROM ${image}@sha256:[0-9a-f]{64}#FROM ${image}@${digest}#" "$dockerfile"
    rm "$dockerfile.bak"
    echo "$dockerfile: $image@$digest"
  done
done
