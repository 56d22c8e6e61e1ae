"""Operator tooling that runs outside the Function App (never packaged: see .funcignore).

``python -m deploy.publish`` publishes the training pipeline to an Azure ML workspace as a
batch endpoint with a pipeline-component deployment.
"""
