"""Runs of a deployment: scenarios, their typed history, reports and the invariant checker."""
