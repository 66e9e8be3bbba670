"""S3 conditional puts ("first writer wins") hold with a botocore that does not know IfNoneMatch yet.

Lambda's Python runtimes include a botocore whose version depends on the runtime and Region, and the web
package ships none; botocore 1.34.145 and 1.35.0 lack PutObject's IfNoneMatch (1.35.10 has it). Such a client
is made here by taking the parameter out of its S3 model, as those versions ship it.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ParamValidationError

from dropml import storage


@pytest.fixture
def old_botocore_client(aws, monkeypatch):
    """An S3 client of the stand-in whose model has no IfNoneMatch, used by dropml's storage."""
    client = boto3.session.Session().client("s3", endpoint_url=aws.endpoint, region_name="us-east-1")
    members = client.meta.service_model.operation_model("PutObject").input_shape.members
    del members["IfNoneMatch"]
    real_client = storage.aws.client
    monkeypatch.setattr(storage.aws, "client", lambda service: client if service == "s3" else real_client(service))
    return client


def test_the_stand_in_client_is_like_an_old_botocore(old_botocore_client):
    with pytest.raises(ParamValidationError, match="IfNoneMatch"):
        old_botocore_client.put_object(Bucket=storage.bucket(), Key="k", Body=b"x", IfNoneMatch="*")


def test_first_writer_wins_without_the_parameter(old_botocore_client):
    assert storage.put_bytes("locks/claim", b"first", if_absent=True) == storage.sha256_hex(b"first")
    assert storage.put_bytes("locks/claim", b"second", if_absent=True) == ""  # S3 answered 412 to the header
    assert storage.get_bytes("locks/claim").body == b"first"
    assert storage.put_bytes("locks/claim", b"third") == storage.sha256_hex(b"third")  # a plain put overwrites
    assert storage.get_bytes("locks/claim").body == b"third"


def test_a_current_botocore_gets_the_parameter(aws):
    members = storage.aws.client("s3").meta.service_model.operation_model("PutObject").input_shape.members
    assert "IfNoneMatch" in members
    assert storage.put_bytes("locks/other", b"a", if_absent=True)
    assert storage.put_bytes("locks/other", b"b", if_absent=True) == ""
