"""``retrainctl``: the operator's command line over the same service calls as the HTTP API.

Run ``python -m retrainctl --help``. It builds the service from the app settings in the
environment (``Settings.from_env`` and ``shared.bootstrap.build_service``), so it acts on
the same state store and registry as the Function App.
"""
