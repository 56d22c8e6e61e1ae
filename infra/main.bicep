// Everything the retraining loop needs in one resource group: `azd up` provisions this,
// deploys the Function App package and then (postdeploy hook, infra/hooks/postdeploy.sh)
// publishes the training pipeline and subscribes the functions to the events
// (infra/events.bicep). See docs/deploy.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags derive from it')
param environmentName string

@minLength(1)
@description('Region of every resource (Flex Consumption and Azure ML must both be offered there)')
param location string

@description('Resource group name; empty: rg-<environmentName>')
param resourceGroupName string = ''

@description('Python version of the Function App (supported: 3.11 to 3.13; the worker conformance test runs 3.13)')
@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string = '3.13'

@description('RETRAIN_MODELS: JSON list of the models to retrain (docs/settings.md); empty: the co2 example')
param retrainModels string = ''

@description('NCRONTAB of the scheduled retraining check')
param retrainSchedule string = '0 0 3 * * *'

@description('NCRONTAB of the sweep that finalises runs whose completion event never came')
param retrainSweepSchedule string = '0 */5 * * * *'

@description('VM size of the training cluster')
param computeVmSize string = 'Standard_DS3_v2'

@description('Most nodes the training cluster scales to (it scales to zero when idle)')
@minValue(1)
param computeMaxNodes int = 2

@description('Most instances Flex Consumption scales the Function App to')
param maximumInstanceCount int = 40

@description('Object id of the person or CI principal that publishes the pipeline (azd passes the signed-in user); empty: none')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

@description('E-mail address notified when Event Grid dead-letters events; empty: alerts without notification')
param alertEmail string = ''

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  functionIdentity: 'id-func-${token}'
  computeIdentity: 'id-compute-${token}'
  logAnalytics: 'log-${token}'
  applicationInsights: 'appi-${token}'
  storage: 'st${token}'
  plan: 'plan-${token}'
  functionApp: 'func-${token}'
  keyVault: 'kv-${take(token, 18)}'
  workspace: 'mlw-${token}'
  storageTopic: 'evgt-st-${token}'
  mlTopic: 'evgt-mlw-${token}'
  batchEndpoint: 'retrain-${take(token, 12)}'
}
var containers = {
  data: 'data'
  state: 'retrain-state'
  artifact: 'retrain-artifacts'
  deployment: 'app-package-${take(token, 12)}'
  deadLetter: 'eventgrid-deadletter'
}
var computeName = 'cpu-cluster'
var exampleModels = '[{"name": "co2", "prefix": "co2/", "frequency": "MS", "season_length": 12, "horizon": 24}]'
var models = empty(retrainModels) ? exampleModels : retrainModels

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    functionIdentityName: names.functionIdentity
    computeIdentityName: names.computeIdentity
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    storageAccountName: names.storage
    dataContainerName: containers.data
    stateContainerName: containers.state
    artifactContainerName: containers.artifact
    deploymentContainerName: containers.deployment
    deadLetterContainerName: containers.deadLetter
  }
}

module ml 'modules/ml.bicep' = {
  name: 'ml'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceName: names.workspace
    keyVaultName: names.keyVault
    storageAccountId: storage.outputs.storageAccountId
    storageAccountName: storage.outputs.storageAccountName
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    dataContainerName: containers.data
    artifactContainerName: containers.artifact
    computeName: computeName
    computeVmSize: computeVmSize
    computeMaxNodes: computeMaxNodes
    computeIdentityId: identity.outputs.computeIdentityId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: names.plan
    functionAppName: names.functionApp
    pythonVersion: pythonVersion
    identityId: identity.outputs.functionIdentityId
    identityClientId: identity.outputs.functionClientId
    storageAccountName: storage.outputs.storageAccountName
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: containers.deployment
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: 2048
    maximumInstanceCount: maximumInstanceCount
    serviceSettings: {
      RETRAIN_BACKEND: 'azureml'
      RETRAIN_MODELS: models
      RETRAIN_SCHEDULE: retrainSchedule
      RETRAIN_SWEEP_SCHEDULE: retrainSweepSchedule
      RETRAIN_DATA_CONTAINER: containers.data
      RETRAIN_STATE_CONTAINER: containers.state
      RETRAIN_ARTIFACT_CONTAINER: containers.artifact
      // The workspace datastores over those containers (modules/ml.bicep).
      RETRAIN_DATA_DATASTORE: 'trainingdata'
      RETRAIN_ARTIFACT_DATASTORE: 'retrainartifacts'
      AZUREML_SUBSCRIPTION_ID: subscription().subscriptionId
      AZUREML_RESOURCE_GROUP: rg.name
      AZUREML_WORKSPACE: ml.outputs.workspaceName
      RETRAIN_BATCH_ENDPOINT: names.batchEndpoint
    }
  }
}

module events 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    location: location
    tags: tags
    storageTopicName: names.storageTopic
    mlTopicName: names.mlTopic
    storageAccountId: storage.outputs.storageAccountId
    workspaceId: ml.outputs.workspaceId
    alertEmail: alertEmail
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.storageAccountName
    deadLetterContainerName: containers.deadLetter
    workspaceName: ml.outputs.workspaceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    functionPrincipalId: identity.outputs.functionPrincipalId
    computePrincipalId: identity.outputs.computePrincipalId
    workspacePrincipalId: ml.outputs.workspacePrincipalId
    storageTopicPrincipalId: events.outputs.storageTopicPrincipalId
    mlTopicPrincipalId: events.outputs.mlTopicPrincipalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

// azd stores these in the environment (.azure/<env>/.env); the postdeploy hook and the
// deploy workflow read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.functionAppName
output SERVICE_API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.storageAccountName
output AZUREML_SUBSCRIPTION_ID string = subscription().subscriptionId
output AZUREML_RESOURCE_GROUP string = rg.name
output AZUREML_WORKSPACE string = ml.outputs.workspaceName
output AZUREML_COMPUTE string = ml.outputs.computeName
output RETRAIN_BATCH_ENDPOINT string = names.batchEndpoint
output RETRAIN_DATA_CONTAINER string = containers.data
output RETRAIN_MODELS string = models
output EVENTGRID_DEADLETTER_CONTAINER string = containers.deadLetter
output EVENTGRID_STORAGE_TOPIC string = events.outputs.storageTopicName
output EVENTGRID_ML_TOPIC string = events.outputs.mlTopicName
