"""Scenarios: YAML files of faults, waits, client actions and expectations, run against a deployment."""
