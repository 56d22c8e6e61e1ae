// The Azure ML workspace that runs the training pipeline: its Key Vault, the compute
// cluster the steps run on (cpu-cluster, scales to zero) and the identity-based datastore
// `trainingdata` over the data container and `retrainartifacts` over the artifact
// container, both identity-based, in the storage account the Function App uses: the
// pipeline reads the snapshot and writes retrain/<run key>/... where the service reads it.
param location string
param tags object
param workspaceName string
param keyVaultName string
param storageAccountId string
param storageAccountName string
param applicationInsightsId string
param dataContainerName string
param artifactContainerName string
param computeName string
param computeVmSize string
param computeMaxNodes int
param computeIdentityId string

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: no firewall rules: Azure ML reaches the vault over its public endpoint in this template (no private endpoints); access is Entra RBAC only, no access policies
  // checkov:skip=CKV_AZURE_189: public network access stays on for the same reason as CKV_AZURE_109
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' = {
  name: workspaceName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  // checkov:skip=CKV_AZURE_243: no private endpoint: the Function App (without VNet integration), Event Grid and the publish step reach the workspace over its public endpoint, with Entra tokens. docs/deploy.md "Network"
  properties: {
    friendlyName: workspaceName
    storageAccount: storageAccountId
    keyVault: keyVault.id
    applicationInsights: applicationInsightsId
    // Shared-key access is off on the storage account, so the system datastores
    // (workspaceblobstore, workspacefilestore) must use the workspace's identity.
    systemDatastoresAuthMode: 'identity'
    publicNetworkAccess: 'Enabled'
    v1LegacyMode: false
  }
}

resource compute 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = {
  parent: workspace
  name: computeName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${computeIdentityId}': {}
    }
  }
  properties: {
    computeType: 'AmlCompute'
    disableLocalAuth: true
    properties: {
      vmSize: computeVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      remoteLoginPortPublicAccess: 'Disabled'
      enableNodePublicIp: true
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: computeMaxNodes
        nodeIdleTimeBeforeScaleDown: 'PT5M'
      }
    }
  }
}

// The pipeline's `data` input reads azureml://datastores/trainingdata/paths/<snapshot>:
// identity-based (no credentials stored), over the data container.
resource trainingData 'Microsoft.MachineLearningServices/workspaces/datastores@2024-10-01' = {
  parent: workspace
  name: 'trainingdata'
  properties: {
    datastoreType: 'AzureBlob'
    accountName: storageAccountName
    containerName: dataContainerName
    endpoint: environment().suffixes.storage
    protocol: 'https'
    credentials: {
      credentialsType: 'None'
    }
    serviceDataAccessAuthIdentity: 'WorkspaceSystemAssignedIdentity'
    description: 'Data blobs, one prefix per model (the Function App snapshots them here)'
  }
}

// The pipeline's outputs go to azureml://datastores/retrainartifacts/paths/retrain/<run key>/
// (RETRAIN_ARTIFACT_DATASTORE), i.e. the artifact container the service reads.
resource retrainArtifacts 'Microsoft.MachineLearningServices/workspaces/datastores@2024-10-01' = {
  parent: workspace
  name: 'retrainartifacts'
  properties: {
    datastoreType: 'AzureBlob'
    accountName: storageAccountName
    containerName: artifactContainerName
    endpoint: environment().suffixes.storage
    protocol: 'https'
    credentials: {
      credentialsType: 'None'
    }
    serviceDataAccessAuthIdentity: 'WorkspaceSystemAssignedIdentity'
    description: 'Pipeline outputs retrain/<run key>/{prepared,model,metrics} (the Function App reads metrics.json)'
  }
}

output workspaceName string = workspace.name
output workspaceId string = workspace.id
output workspacePrincipalId string = workspace.identity.principalId
output computeName string = compute.name
output keyVaultId string = keyVault.id
