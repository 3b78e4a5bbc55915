"""boto3 clients, created once per process (Lambda containers are reused).

boto3 reads AWS_ENDPOINT_URL itself, which is how the same code talks to MiniStack locally.
"""
from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=50,
)


@cache
def client(service: str):
    return boto3.session.Session().client(service, config=_CONFIG)
