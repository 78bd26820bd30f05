"""moto's S3 server, started once per test session: an S3 implementation written by others, over
real HTTP on a loopback port, that the storage tests and the S3-backed upload flow talk to.

moto checks signatures only when its IAM authentication is on, and then as AWS does it: the access
key must belong to an IAM user whose policy allows the action, and botocore's S3 signer recomputes
the Authorization header of every request. So the server starts with an IAM user "linli" (allowed
s3:*) and authentication on: every put, get and delete the app signs is verified by code other than
ours. moto does not verify presigned URLs, though (with authentication on it fails on them, with it
off it serves them unchecked, expired or not): `MotoS3.presigned_get` lets exactly that one request
through unauthenticated. The presigned signature itself is checked against botocore's signer in
tests/test_sigv4.py, and expiry against the in-process fake in tests/test_storage.py.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

REGION = "ap-guangzhou"
ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@dataclass
class MotoS3:
    endpoint: str  # http://127.0.0.1:{port}
    access_key: str
    secret_key: str
    region: str
    client: Any  # a boto3 S3 client with the same credentials: the test's own view of the bucket

    def new_bucket(self) -> str:
        """A fresh, empty bucket, so that tests sharing the server never see each other's objects."""
        name = f"linli-{secrets.token_hex(6)}"
        self.client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def _auth_after(self, free_requests: int) -> None:
        # moto's own switch: the next `free_requests` actions pass unauthenticated, then auth is on
        response = httpx.post(f"{self.endpoint}/moto-api/reset-auth", content=str(free_requests).encode())
        response.raise_for_status()

    def presigned_get(self, url: str) -> httpx.Response:
        """GET a presigned URL as a phone would (no credentials, only the URL). See the module's
        docstring for why moto's authentication steps aside for this one request."""
        self._auth_after(1)
        try:
            return httpx.get(url)
        finally:
            self._auth_after(0)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    # imported here: moto and boto3 take a while to load, and most test runs never start the server
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    opened: list[Any] = []  # boto3 clients, closed before the server stops (see below)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # authentication is off until reset-auth turns it on: the IAM user is made first
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="setup", aws_secret_access_key="setup", **setup)
        opened.append(iam)
        iam.create_user(UserName="linli")
        iam.put_user_policy(UserName="linli", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3))
        key = iam.create_access_key(UserName="linli")["AccessKey"]
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        opened.append(client)
        moto = MotoS3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], REGION, client)
        moto._auth_after(0)
        yield moto
    finally:
        # the boto3 clients' kept-alive connections first: each holds one of the server's request
        # threads, which the interpreter would otherwise wait for at exit
        for opened_client in opened:
            opened_client.close()
        server.stop()
