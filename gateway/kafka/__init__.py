"""Kafka client plumbing shared by every command: connection settings and topic provisioning."""
