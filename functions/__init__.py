"""Thin trigger adapters, one blueprint per source: parse the binding into a message,
hand it to the service, map the outcome. Nothing heavy is imported here."""
