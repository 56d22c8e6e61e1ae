"""The retraining service's domain, its ports and its adapters (deployed with the app)."""
