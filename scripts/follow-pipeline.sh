#!/usr/bin/env bash
# Upload this commit as the source of the environment's CodePipeline (s3 source) and follow the
# execution it starts until it ends; exit non-zero if it does not succeed.
# The pipeline stack publishes its source bucket and name as SSM parameters
# /sdpipe/<env>/pipeline/source-bucket and /sdpipe/<env>/pipeline/name.
# Usage: scripts/follow-pipeline.sh <env>   (AWS credentials and region in the environment)
set -euo pipefail
env_name="${1:?usage: follow-pipeline.sh <environment>}"
param() { aws ssm get-parameter --name "/sdpipe/${env_name}/pipeline/$1" --query Parameter.Value --output text; }
bucket="$(param source-bucket)"
pipeline="$(param name)"

archive="$(mktemp -d)/source.zip"
git archive --format=zip -o "$archive" HEAD
version="$(aws s3api put-object --bucket "$bucket" --key source.zip --body "$archive" --query VersionId --output text)"
echo "uploaded $(git rev-parse --short HEAD) to s3://${bucket}/source.zip (version ${version})"

execution=""
for _ in $(seq 1 60); do
  execution="$(aws codepipeline list-pipeline-executions --pipeline-name "$pipeline" --max-items 10 \
    --query "pipelineExecutionSummaries[?sourceRevisions[0].revisionId=='${version}'].pipelineExecutionId | [0]" --output text)"
  [ -n "$execution" ] && [ "$execution" != "None" ] && break
  sleep 10
done
if [ -z "$execution" ] || [ "$execution" = "None" ]; then
  echo "::error::no execution of ${pipeline} started for source version ${version} within 10 minutes; check the pipeline's S3 source trigger"
  exit 1
fi
echo "following execution ${execution} of ${pipeline}"
last=""
while :; do
  status="$(aws codepipeline get-pipeline-execution --pipeline-name "$pipeline" --pipeline-execution-id "$execution" --query pipelineExecution.status --output text)"
  stages="$(aws codepipeline get-pipeline-state --name "$pipeline" --query "stageStates[].[stageName, latestExecution.status]" --output text | tr '\t\n' ': ')"
  if [ "$stages" != "$last" ]; then echo "$(date -u +%H:%M:%S) ${status}: ${stages}"; last="$stages"; fi
  case "$status" in
    Succeeded) exit 0 ;;
    Failed|Stopped|Superseded|Cancelled) echo "::error::pipeline execution ${execution} ended ${status}"; exit 1 ;;
  esac
  sleep 20
done
