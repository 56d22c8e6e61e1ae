"""Implementations of the ports: Blob storage (Azure and Azurite alike) and the local
workspace that stands in for Azure ML."""
