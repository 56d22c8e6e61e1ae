// The one storage account behind the app: the Functions host (AzureWebJobsStorage), the
// Flex Consumption deployment package, the service's data and state, the Azure ML
// workspace's default datastore (workspaceblobstore, whose container Azure ML creates,
// used by deploy.publish for component code) and Event Grid's dead letters. Shared-key access is off: every client uses Entra ID.
param location string
param tags object
param storageAccountName string
param dataContainerName string
param stateContainerName string
param artifactContainerName string
param deploymentContainerName string
param deadLetterContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_43: the name is computed ('st' + uniqueString: 15 lowercase letters and digits), which checkov cannot evaluate; it meets the naming rules
  // checkov:skip=CKV_AZURE_59: public network access stays on: Event Grid dead-lettering, Flex Consumption without VNet integration and Azure ML compute without a managed VNet reach the account over its public endpoint; every request still needs an Entra token (shared-key and anonymous access are off). docs/deploy.md "Network" says how to close it
  // checkov:skip=CKV_AZURE_35: default network action Allow, for the same reason as CKV_AZURE_59 (this template has no VNet or private endpoints)
  // checkov:skip=CKV_AZURE_206: zone-redundant (three copies across zones) rather than geo-redundant: the data can be re-sent and a regional outage stops Azure ML and the Function App anyway; use Standard_GZRS if the audit trail must survive a region
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Data lands here, one prefix per model (RETRAIN_DATA_CONTAINER; datastore trainingdata).
resource dataContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: dataContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Runs, ledger, aliases, quarantine, the service's own dead letters (RETRAIN_STATE_CONTAINER).
resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The pipeline's outputs, retrain/<run key>/{prepared,model,metrics}/ (RETRAIN_ARTIFACT_CONTAINER;
// datastore retrainartifacts), which the service reads back (metrics.json).
resource artifactContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: artifactContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The Flex Consumption deployment package (functionAppConfig.deployment.storage).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Events Event Grid could not deliver after its retries (both subscriptions).
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

output storageAccountName string = storage.name
output storageAccountId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deadLetterContainerId string = deadLetterContainer.id
