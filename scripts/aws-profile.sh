# shellcheck shell=bash
# Sourced by the scripts that call the AWS CLI: it gets the credentials cdk gets, so a --profile
# among the options (CDK_ARGS, "$@" of the sourcing script) selects them. bash 3.2 (macOS).
previous=""
for arg in "$@"; do
  if [ "$previous" = --profile ]; then export AWS_PROFILE="$arg"; fi
  case $arg in --profile=*) export AWS_PROFILE="${arg#--profile=}" ;; esac
  previous=$arg
done
