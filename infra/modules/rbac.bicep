// Every role assignment of the deployment, least privilege, each with why it is needed.
// Role definition ids are Azure's built-in ones.
param storageAccountName string
param deadLetterContainerName string
param workspaceName string
param applicationInsightsName string
param functionPrincipalId string
param computePrincipalId string
param workspacePrincipalId string
param storageTopicPrincipalId string
param mlTopicPrincipalId string
@description('Object id of a person or CI principal that runs `python -m deploy.publish`; empty: none')
param deployerPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageFileDataPrivilegedContributor: '69566ab7-960f-475b-8e7c-b3118f30c6bd'
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deadLetter 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Function App identity -> storage account: Storage Blob Data Owner. The Functions host
// uses AzureWebJobsStorage by identity (timer locks, host keys, the Flex deployment
// package) and its docs require Blob Data Owner for that; the service itself reads data
// blobs, keeps state and reads the pipeline's metrics in the same account.
resource functionStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Function App identity -> workspace: AzureML Data Scientist. Invoke the batch endpoint
// (creates jobs that run as the invoker), read jobs and run history for the sweep,
// register model versions and set their tags. It cannot create compute or change RBAC.
resource functionWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, functionPrincipalId, roles.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLDataScientist)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Function App identity -> Application Insights: Monitoring Metrics Publisher. Local
// auth is off, so the host and the OpenTelemetry exporter need an Entra token to ingest.
resource functionTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, functionPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Compute cluster identity -> storage account: Storage Blob Data Contributor. The steps
// read the data snapshot (trainingdata) and write prepared/model/metrics outputs to
// workspaceblobstore; both datastores are identity-based.
resource computeStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, computePrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: computePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Workspace identity -> storage account: Storage Blob Data Contributor and Storage File
// Data Privileged Contributor, required when systemDatastoresAuthMode is 'identity'
// (workspaceblobstore, workspacefilestore and the trainingdata datastore's service access).
resource workspaceBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, workspacePrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: workspacePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workspaceFile 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, workspacePrincipalId, roles.storageFileDataPrivilegedContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageFileDataPrivilegedContributor)
    principalId: workspacePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid system topics -> dead-letter container only: Storage Blob Data Contributor,
// to write undeliverable events with the topic's own identity.
resource storageTopicDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deadLetter.id, storageTopicPrincipalId, roles.storageBlobDataContributor)
  scope: storage::blobService::deadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: storageTopicPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource mlTopicDeadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deadLetter.id, mlTopicPrincipalId, roles.storageBlobDataContributor)
  scope: storage::blobService::deadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: mlTopicPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: the person or CI principal that publishes the pipeline. AzureML Data
// Scientist to register environments/components and create the endpoint and deployment;
// Storage Blob Data Contributor because publish uploads component code to workspaceblobstore.
resource deployerWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(workspace.id, deployerPrincipalId, roles.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLDataScientist)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

resource deployerStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(storage.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
