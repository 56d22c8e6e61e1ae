// User-assigned managed identities: one for the Function App, one for the Azure ML
// compute cluster. Separate identities keep each role assignment to what its holder does.
param location string
param tags object
param functionIdentityName string
param computeIdentityName string

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: functionIdentityName
  location: location
  tags: tags
}

resource computeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: computeIdentityName
  location: location
  tags: tags
}

output functionIdentityId string = functionIdentity.id
output functionIdentityName string = functionIdentity.name
output functionClientId string = functionIdentity.properties.clientId
output functionPrincipalId string = functionIdentity.properties.principalId
output computeIdentityId string = computeIdentity.id
output computeClientId string = computeIdentity.properties.clientId
output computePrincipalId string = computeIdentity.properties.principalId
