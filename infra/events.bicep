// The Event Grid subscriptions that feed the Function App. Deployed after the code
// (infra/hooks/postdeploy.sh, and the deploy workflow), because a webhook needs the
// app's eventgrid_extension system key, which the host creates when it first loads the
// Event Grid triggers, and because Event Grid validates a webhook when it is subscribed.
// The key is read here with listKeys at deployment time: it never appears in a template,
// a parameter file, the azd environment or a log.
targetScope = 'resourceGroup'

param functionAppName string
param storageTopicName string
param mlTopicName string
param storageAccountName string
param dataContainerName string = 'data'
param deadLetterContainerName string = 'eventgrid-deadletter'
@description('RETRAIN_MODELS (JSON): each model\'s prefix becomes a subject filter')
param retrainModels string
@description('Delivery attempts before an event is dead-lettered')
param maxDeliveryAttempts int = 30
@description('Minutes Event Grid keeps retrying an event')
param eventTimeToLiveInMinutes int = 1440

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource storageTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = {
  name: storageTopicName
}

resource mlTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = {
  name: mlTopicName
}

var eventGridKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.eventgrid_extension
var webhook = 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/eventgrid'
var dataSubject = '/blobServices/default/containers/${dataContainerName}/blobs/'
var modelSubjects = [for model in json(retrainModels): '${dataSubject}${model.prefix}']
var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: storage.id
      blobContainerName: deadLetterContainerName
    }
  }
}

// New data: BlobCreated and BlobDeleted in the data container, under a configured model's prefix only.
resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: storageTopic
  name: 'on-blob-created'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_blob_created&code=${eventGridKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
        'Microsoft.Storage.BlobDeleted'
      ]
      subjectBeginsWith: dataSubject
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'subject'
          values: modelSubjects
        }
      ]
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Pipeline runs: completion and status changes of the workspace's jobs.
resource runCompleted 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: mlTopic
  name: 'on-run-completed'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_run_completed&code=${eventGridKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunCompleted'
        'Microsoft.MachineLearningServices.RunStatusChanged'
      ]
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Drift signals from the workspace: model-monitoring runs (RunStatusChanged with the
// threshold-breached tag) and v1 DatasetDriftDetected. on_azureml_event takes only those
// and leaves retraining runs to on_run_completed (docs/policy.md).
resource azuremlDrift 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: mlTopic
  name: 'on-azureml-event'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_azureml_event&code=${eventGridKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunStatusChanged'
        'Microsoft.MachineLearningServices.DatasetDriftDetected'
      ]
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

output blobCreatedSubscription string = blobCreated.name
output runCompletedSubscription string = runCompleted.name
output azuremlDriftSubscription string = azuremlDrift.name
