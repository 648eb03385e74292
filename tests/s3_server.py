"""An S3-compatible server on localhost for the object-storage tests: moto's server, in a
thread of the test process, one per session; a fresh bucket per test.

The endpoint and the (fake) credentials go into os.environ, the way a user gives them
(AWS_ENDPOINT_URL and friends), so the code under test finds them itself, and so do the
child processes a test starts (they inherit the environment).
"""

from __future__ import annotations

import logging
import uuid

import pytest

# a developer's own AWS setup must not leak into the tests: a profile or a session token
# would be sent along, and AWS_ENDPOINT_URL_S3 would win over AWS_ENDPOINT_URL
FOREIGN_AWS_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def s3_endpoint():
    """Start moto's S3 server on a free port of 127.0.0.1 and point the AWS environment
    at it for the session; yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    # port 0: the OS picks a free port as the server binds it, so no other process can
    # take it between choosing and binding
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as env:  # restores the previous values at exit
            for name in FOREIGN_AWS_ENV:
                env.delenv(name, raising=False)
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_DEFAULT_REGION", "us-east-1")
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint) -> str:
    """A prefix in a new, empty bucket of the session's S3 server: `s3://<bucket>/fleet`."""
    import boto3

    bucket = f"fleet-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)  # us-east-1: no location constraint
    return f"s3://{bucket}/fleet"


def objects(url: str) -> list[str]:
    """Every object under `url` (s3://bucket/prefix), as paths relative to it."""
    import pipelines.objectstore

    fs = pipelines.objectstore.filesystem(url)
    root = fs._strip_protocol(url)
    return sorted(path.removeprefix(root + "/") for path in fs.find(root))
