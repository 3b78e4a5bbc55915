"""Deployment tooling: the resources template and the local stack (MiniStack) driver."""
