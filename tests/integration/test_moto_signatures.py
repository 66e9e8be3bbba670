"""The enforcing stand-in checks the signature botocore made: GETs without a body (Lambda, API Gateway, Scheduler)
are accepted from an allowed caller, and S3's refusals are still 403s, not 500s."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from dropml.local import roles, start_moto


@pytest.fixture(scope="module")
def enforcing():
    server = start_moto(in_process=False, enforce_iam=True)
    deployer = roles.create_deployer(server.endpoint, "us-east-1")
    session = boto3.session.Session(deployer.access_key_id, deployer.secret_access_key, region_name="us-east-1")
    yield server.endpoint, session
    server.stop()


def test_bodyless_gets_of_rest_services_pass_the_signature_check(enforcing):
    endpoint, session = enforcing
    assert session.client("lambda", endpoint_url=endpoint).list_functions()["Functions"] == []
    assert session.client("apigateway", endpoint_url=endpoint).get_rest_apis()["items"] == []
    assert session.client("scheduler", endpoint_url=endpoint).list_schedules()["Schedules"] == []
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        session.client("lambda", endpoint_url=endpoint).get_function(FunctionName="nope")


def test_a_denied_s3_read_is_still_a_403(enforcing):
    endpoint, session = enforcing
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dropml-signatures")
    iam = session.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName="reader")
    only_list = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(only_list))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.session.Session(key["AccessKeyId"], key["SecretAccessKey"], region_name="us-east-1")
    with pytest.raises(ClientError) as refused:
        reader.client("s3", endpoint_url=endpoint).get_object(Bucket="dropml-signatures", Key="k")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError, match="AccessDenied"):
        reader.client("lambda", endpoint_url=endpoint).list_functions()
