#!/bin/sh
# azd postdeploy hook (azure.yaml), also run by the deploy workflow after the package is
# deployed:
#   1. publish the training pipeline to the workspace (python -m deploy.publish);
#   2. wait until the Function App's Event Grid system key exists (the host creates it
#      when it first loads the Event Grid triggers, i.e. after the code is deployed);
#   3. deploy infra/events.bicep: the Event Grid subscriptions to on_blob_created,
#      on_run_completed and on_azureml_event (the key is read inside ARM with listKeys,
#      never printed here).
# Needs: az (logged in), Python with requirements-dev.txt (the .venv of scripts/test.sh).
# Idempotent: publish skips what is unchanged; the subscriptions are declarative.
set -eu
cd "$(dirname "$0")/../.."

if [ -z "${AZURE_FUNCTION_APP_NAME:-}" ] && command -v azd >/dev/null 2>&1; then
  # Older azd versions do not export the environment to hooks.
  eval "$(azd env get-values | sed 's/^/export /')"
fi
for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_STORAGE_ACCOUNT_NAME \
  AZUREML_SUBSCRIPTION_ID AZUREML_RESOURCE_GROUP AZUREML_WORKSPACE AZUREML_COMPUTE \
  RETRAIN_BATCH_ENDPOINT RETRAIN_DATA_CONTAINER RETRAIN_MODELS EVENTGRID_STORAGE_TOPIC \
  EVENTGRID_ML_TOPIC EVENTGRID_DEADLETTER_CONTAINER; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "postdeploy: $name is not set (run azd provision first)" >&2
    exit 2
  fi
done

python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3

if [ "${SKIP_PUBLISH:-}" != "1" ]; then
  echo "==> publishing the training pipeline to $AZUREML_WORKSPACE"
  "$python" -m deploy.publish \
    --subscription "$AZUREML_SUBSCRIPTION_ID" \
    --resource-group "$AZUREML_RESOURCE_GROUP" \
    --workspace "$AZUREML_WORKSPACE" \
    --endpoint "$RETRAIN_BATCH_ENDPOINT" \
    --compute "$AZUREML_COMPUTE"
fi

echo "==> waiting for the Event Grid system key of $AZURE_FUNCTION_APP_NAME"
host=$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
  --query defaultHostName -o tsv)
attempt=0
while :; do
  # A request wakes a scaled-to-zero app so that its host indexes the functions.
  curl -s -o /dev/null --max-time 30 "https://$host/" || true
  present=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --query "contains(keys(systemKeys), 'eventgrid_extension')" -o tsv 2>/dev/null || echo false)
  [ "$present" = "true" ] && break
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "postdeploy: no eventgrid_extension key after 5 minutes; is the package deployed?" >&2
    exit 1
  fi
  sleep 10
done

echo "==> subscribing on_blob_created, on_run_completed, on_azureml_event (infra/events.bicep)"
az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name retrain-events \
  --template-file infra/events.bicep \
  --parameters \
    functionAppName="$AZURE_FUNCTION_APP_NAME" \
    storageTopicName="$EVENTGRID_STORAGE_TOPIC" \
    mlTopicName="$EVENTGRID_ML_TOPIC" \
    storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
    dataContainerName="$RETRAIN_DATA_CONTAINER" \
    deadLetterContainerName="$EVENTGRID_DEADLETTER_CONTAINER" \
    retrainModels="$RETRAIN_MODELS" \
  --query properties.provisioningState -o tsv
echo "postdeploy: done"
