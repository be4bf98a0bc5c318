#!/usr/bin/env bash
# Deploys mltrain on a Knative cluster: the S3 secret, the services and (with --eventing)
# the channel topology. Needs kubectl and envsubst (gettext).
#   NAMESPACE=mltrain IMAGE=REGISTRY/mltrain:VERSION RUNTIME_CLASS_NAME=kata-qemu-sev \
#   S3_HOST=minio.minio.svc.cluster.local S3_PORT=9000 S3_USER=... S3_PASSWORD=... \
#   S3_BUCKET=tless deploy/knative/deploy.sh [--eventing]
set -euo pipefail
here="$(dirname "$0")"
: "${NAMESPACE:=mltrain}" "${IMAGE:?set IMAGE}" "${S3_HOST:?}" "${S3_USER:?}" "${S3_PASSWORD:?}"
: "${S3_PORT:=9000}" "${S3_BUCKET:=tless}"
# An empty runtime class means the cluster's default runtime.
export NAMESPACE IMAGE S3_HOST S3_PORT S3_USER S3_PASSWORD S3_BUCKET RUNTIME_CLASS_NAME="${RUNTIME_CLASS_NAME:-}"
vars='${NAMESPACE} ${IMAGE} ${RUNTIME_CLASS_NAME} ${S3_HOST} ${S3_PORT} ${S3_USER} ${S3_PASSWORD} ${S3_BUCKET}'
render() {
  if [ -z "$RUNTIME_CLASS_NAME" ]; then
    envsubst "$vars" < "$1" | grep -v 'runtimeClassName: *$'
  else
    envsubst "$vars" < "$1"
  fi
}
kubectl get namespace "$NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$NAMESPACE"
render "$here/secret.yaml" | kubectl apply -f -
render "$here/services.yaml" | kubectl apply -f -
if [ "${1:-}" = "--eventing" ]; then
  render "$here/eventing.yaml" | kubectl apply -f -
fi
kubectl -n "$NAMESPACE" wait --for=condition=Ready ksvc --all --timeout=300s
