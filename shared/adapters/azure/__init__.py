"""The Azure ML backend: the ``PipelineClient`` and ``ModelRegistry`` ports over a real
Azure ML workspace.

    workspace.py  builds the ``MLClient`` (credential, optional azure-core transport) and
                  the retry rules every Azure call here goes through
    pipeline.py   ``AzureMLPipelineClient``: invokes the batch endpoint's pipeline-component
                  deployment, finds and follows its jobs
    v1.py         ``V1PipelineEndpointClient``: the same port over a v1 PipelineEndpoint /
                  PublishedPipeline REST submit URL
    registry.py   ``AzureMLModelRegistry``: model versions in the workspace registry, the
                  production alias in our own blob store, mirrored onto the versions' tags

``azure.ai.ml`` is imported inside functions only, so importing this package (and the
Function App) stays cheap.
"""
