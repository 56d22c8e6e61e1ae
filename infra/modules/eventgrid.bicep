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
@description('E-mail address for alerts (events dead-lettered); empty: alerts without notification')
param alertEmail string = ''

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

// Alerts: an event Event Grid gave up on (dead-lettered) is data or a run result the
// service never saw; the sweep recovers run results, not data arrivals.
resource alertGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${storageTopicName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'retrain'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var alertActions = empty(alertEmail) ? [] : [
  {
    actionGroupId: alertGroup.id
  }
]

resource storageDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-deadletter-${storageTopicName}'
  location: 'global'
  tags: tags
  properties: {
    description: 'BlobCreated events dead-lettered: data arrived that the service never saw (see the eventgrid-deadletter container)'
    severity: 2
    enabled: true
    scopes: [
      storageTopic.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'dead-lettered'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: alertActions
  }
}

resource mlDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-deadletter-${mlTopicName}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Azure ML events dead-lettered: the sweep finalises runs without their event, drift signals are lost (see the eventgrid-deadletter container)'
    severity: 3
    enabled: true
    scopes: [
      mlTopic.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'dead-lettered'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: alertActions
  }
}

output storageTopicName string = storageTopic.name
output storageTopicPrincipalId string = storageTopic.identity.principalId
output mlTopicName string = mlTopic.name
output mlTopicPrincipalId string = mlTopic.identity.principalId
