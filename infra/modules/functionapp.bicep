// The Function App on Flex Consumption (Linux, Python), running as the user-assigned
// identity. Every connection is identity-based: no key, connection string with a key,
// or SAS appears in an app setting.
param location string
param tags object
param planName string
param functionAppName string
param pythonVersion string
param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string
param instanceMemoryMB int
param maximumInstanceCount int
@description('App settings of the retraining service (RETRAIN_*, AZUREML_*), merged over the platform ones')
param serviceSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: zone redundancy of a Flex Consumption plan is offered in some regions only; enable it (zoneRedundant) where the region has it
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  // checkov:skip=CKV_AZURE_222: public network access stays on: Event Grid delivers to the app's webhooks over the public endpoint (no private endpoint in this template); every route needs a function key, the webhooks the eventgrid_extension system key
  // checkov:skip=CKV_AZURE_17: incoming client certificates would be refused by Event Grid webhook delivery, which presents none
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances itself (maximumInstanceCount; alwaysReady is optional and billed); there is no instance minimum to set for failover
  // checkov:skip=CKV_AZURE_213: App Service health checks are not available on Consumption plans, Flex included
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }

  // The checks below are web-site checks that checkov also applies to this config child
  // resource (the app settings); they do not describe it.
  resource appSettings 'config' = {
    // checkov:skip=CKV_AZURE_13: App Service authentication (Easy Auth) would stand in front of the Event Grid webhooks; routes are protected by function keys (auth_level FUNCTION)
    // checkov:skip=CKV_AZURE_63: App Service HTTP logs do not exist on Flex Consumption; requests are traced to Application Insights
    // checkov:skip=CKV_AZURE_65: detailed error pages are an App Service (IIS) feature that does not apply to a Linux Function App; errors go to Application Insights
    // checkov:skip=CKV_AZURE_66: failed request tracing is an App Service (IIS) feature that does not apply to a Linux Function App
    // checkov:skip=CKV_AZURE_80: no .NET runtime: this is a Python Function App
    // checkov:skip=CKV_AZURE_88: the app needs no Azure Files mount: Flex Consumption runs the package from blob storage
    // checkov:skip=CKV_AZURE_222: this is the app settings resource; public network access is decided (and justified) on the site above
    name: 'appsettings'
    properties: union(serviceSettings, {
      // Host storage by identity (the service reads the same settings for its own blobs).
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // Azure ML and the service's DefaultAzureCredential use this identity.
      AZURE_CLIENT_ID: identityClientId
      // Telemetry: Entra-authenticated ingestion (local auth is off on the component).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // The worker passes the host's trace context to the invocation (host.json
      // telemetryMode OpenTelemetry); shared/telemetry.py exports the app's own records.
      PYTHON_ENABLE_OPENTELEMETRY: 'true'
      // Sync functions run on this many worker threads (the most the worker allows): the
      // events of one Event Grid delivery are invoked together (docs/delivery.md).
      PYTHON_THREADPOOL_THREAD_COUNT: '32'
    })
  }
}

output functionAppName string = functionApp.name
output functionAppId string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
