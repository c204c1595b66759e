"""Helpers every test folder shares: waiting for an outcome, the provider sandboxes and their audio."""
