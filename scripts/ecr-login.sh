#!/usr/bin/env bash
# Docker login to this account's ECR registry in the configured region (CI's publish job); prints
# `registry=<host>/` for $GITHUB_OUTPUT (docker's own words go to stderr).
#   scripts/ecr-login.sh [-c key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/aws-profile.sh
. scripts/aws-profile.sh "$@"
region=$(.venv/bin/python -m deployment.cli "$@" --print region)
account=$(aws sts get-caller-identity --query Account --output text)
registry="${account}.dkr.ecr.${region}.amazonaws.com"
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >&2
echo "registry=${registry}/"
