"""The local world is built from template.yaml: every queue, DLQ, filter, parameter, topic and cluster exists."""

from __future__ import annotations

import json
import time

from dropml import events, storage
from dropml.aws import client as aws_client
from dropml.config import settings
from dropml.local import poller, world


def test_every_queue_and_filter_of_the_template_exists_locally(aws):
    template = world.load_template()
    built = world.build()
    sqs = aws_client("sqs")
    local_names = {url.rsplit("/", 1)[-1] for url in sqs.list_queues()["QueueUrls"]}
    for spec in world.queue_specs(template):
        assert f"dropml-{spec.logical_id}" in local_names  # CloudFormation's name without its random suffix
        if spec.dead_letter_queue:
            attributes = sqs.get_queue_attributes(QueueUrl=built.queues[spec.logical_id].url, AttributeNames=["All"])
            redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == built.queues[spec.dead_letter_queue].arn
            assert int(redrive["maxReceiveCount"]) == spec.max_receive_count
    config = aws_client("s3").get_bucket_notification_configuration(Bucket=built.bucket)
    local_filters = {
        (
            c["QueueArn"],
            tuple(sorted((r["Name"].lower(), r["Value"]) for r in c["Filter"]["Key"]["FilterRules"])),
        )
        for c in config["QueueConfigurations"]
    }
    template_filters = {
        (built.queues[n.queue].arn, tuple(sorted(x for x in (("prefix", n.prefix), ("suffix", n.suffix)) if x[1])))
        for n in world.notification_specs(template)
    }
    assert local_filters == template_filters
    assert len(template_filters) == 5  # train/, models/, test/, and data/ (.csv, .parquet)
    # the live-version parameter is the publisher's (made on the first publish), not the template's
    assert aws_client("ssm").describe_parameters()["Parameters"] == []
    assert built.topic_arn.endswith(":dropml-events")
    assert aws_client("ecs").describe_clusters(clusters=[built.cluster])["clusters"][0]["status"] == "ACTIVE"
    assert aws_client("s3").get_bucket_versioning(Bucket=built.bucket)["Status"] == "Enabled"


def test_building_twice_keeps_the_live_version(aws):
    world.build()
    name = settings().model_version_parameter("default")
    aws_client("ssm").put_parameter(Name=name, Value="3", Type="String", Overwrite=True)
    world.build()
    assert aws_client("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "3"


def test_uploads_reach_only_the_queue_their_prefix_and_suffix_select(aws):
    built = world.build()
    sqs = aws_client("sqs")
    for queue in built.queues.values():  # drop the s3:TestEvent messages
        sqs.purge_queue(QueueUrl=queue.url)
    storage.put_bytes("train/a.csv", b"x\n1\n")
    storage.put_bytes("train/a.parquet", b"x")
    storage.put_bytes("models/default/v1/manifest.json", b"{}")
    storage.put_bytes("models/default/v1/m.pkl", b"x")
    storage.put_bytes("test/b.csv", b"x\n1\n")
    storage.put_bytes("other/c.csv", b"x\n1\n")
    got = {}
    for name in ("TrainingQueue", "PublishQueue", "ScoringQueue"):
        messages = sqs.receive_message(QueueUrl=built.queues[name].url, MaxNumberOfMessages=10)["Messages"]
        got[name] = sorted(obj.key for m in messages for obj in events.s3_objects(m["Body"]))
    assert got == {
        "TrainingQueue": ["train/a.csv"],
        "PublishQueue": ["models/default/v1/manifest.json"],
        "ScoringQueue": ["test/b.csv"],
    }


def test_poller_sends_a_malformed_message_to_the_dlq_after_max_receives_and_announces_it(aws):
    built = world.build(visibility_timeout=1)
    sqs = aws_client("sqs")
    inbox = sqs.create_queue(QueueName="sns-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=built.topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    training = built.queues["TrainingQueue"]
    sqs.send_message(QueueUrl=training.url, MessageBody="this is not an S3 notification")
    running = poller.Poller(poller.routes_for(built), wait_seconds=1).start()
    try:
        deadline = time.monotonic() + 30
        parked: list[dict] = []
        while not parked and time.monotonic() < deadline:
            parked = sqs.receive_message(QueueUrl=training.dead_letter_url, WaitTimeSeconds=1).get("Messages", [])
    finally:
        running.stop()
    assert [m["Body"] for m in parked] == ["this is not an S3 notification"]
    notes = []
    while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
        notes += [json.loads(json.loads(m["Body"])["Message"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
    failures = [n for n in notes if n["outcome"] == "failed"]
    assert len(failures) == training.max_receive_count  # one announcement per attempt
    assert all("not an S3 notification" in n["error"] for n in failures)
