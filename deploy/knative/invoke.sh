#!/usr/bin/env bash
# Starts one run inside the cluster, like the original workflow's curl_cmd.sh:
#   deploy/knative/invoke.sh [PREFIX NUM_PCA NUM_RF]            # the driver service, waits for the report
#   deploy/knative/invoke.sh --eventing [PREFIX NUM_PCA NUM_RF] # the channel topology, returns at once
set -euo pipefail
NAMESPACE="${NAMESPACE:-mltrain}"
mode=driver
if [ "${1:-}" = "--eventing" ]; then mode=eventing; shift; fi
prefix="${1:-ml-training/mnist-images-2k}" num_pca="${2:-2}" num_rf="${3:-8}"
run_id="$(date -u +%Y%m%dT%H%M%S.000Z)-$(printf '%06x' $((RANDOM * RANDOM % 16777216)))"
params="{\"prefix\":\"$prefix\",\"num_pca\":$num_pca,\"num_rf\":$num_rf,\"test\":{\"holdout\":0.2},\"components\":10,\"trees\":100,\"max_depth\":10,\"min_samples_split\":5,\"seed\":0,\"resize\":null}"
if [ "$mode" = driver ]; then
  url="http://mltrain-driver.$NAMESPACE.svc.cluster.local/driver"
  type="dev.mltrain.driver.request"
  data="{\"params\":$params,\"run_id\":\"$run_id\"}"
else
  url="http://ingress-to-partition-kn-channel.$NAMESPACE.svc.cluster.local"
  type="dev.mltrain.flow.partition"
  data="{\"run_id\":\"$run_id\",\"params\":$params}"
fi
echo "run $run_id via $url" >&2
kubectl -n "$NAMESPACE" run "curl-${run_id//[^a-z0-9]/}" --image=curlimages/curl --rm=true --restart=Never -i -- \
  -sS -X POST --max-time 3600 \
  -H "content-type: application/json" \
  -H "ce-specversion: 1.0" \
  -H "ce-source: /mltrain/cli" \
  -H "ce-type: $type" \
  -H "ce-id: $run_id" \
  -H "ce-subject: $run_id" \
  -d "$data" \
  "$url"
