// Event Grid system topics on the storage account (BlobCreated) and on the Azure ML
// workspace (RunCompleted, RunStatusChanged). Their subscriptions point at the Function
// App's Event Grid webhooks, which need the app's eventgrid_extension system key; that key
// exists only once the code is deployed, so the subscriptions are made afterwards by
// infra/events.bicep (run by the azd postdeploy hook and by the deploy workflow).
// Each topic has a system-assigned identity so it can dead-letter with its own identity
// (the storage account accepts no shared key).
param location string
param tags object
param storageTopicName string
param mlTopicName string
param storageAccountId string
param workspaceId string

resource storageTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: storageTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource mlTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: mlTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: workspaceId
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

output storageTopicName string = storageTopic.name
output storageTopicPrincipalId string = storageTopic.identity.principalId
output mlTopicName string = mlTopic.name
output mlTopicPrincipalId string = mlTopic.identity.principalId
