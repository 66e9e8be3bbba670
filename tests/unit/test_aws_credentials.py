"""dropml.aws caches clients per credentials in use: a client made for one principal never serves another."""

from __future__ import annotations

import threading

from dropml import aws


def _access_key(client) -> str:
    return client._request_signer._credentials.get_frozen_credentials().access_key


def test_each_credentials_context_gets_its_own_client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEFAULTCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "default-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    aws.reset_clients()
    publisher = aws.Credentials("ASIAPUBLISHER", "p-secret", "p-token")
    trigger = aws.Credentials("ASIATRIGGER", "t-secret", "t-token")

    default = aws.client("s3")
    with aws.using_credentials(publisher):
        as_publisher = aws.client("s3")
        with aws.using_credentials(trigger):
            as_trigger = aws.client("s3")
        assert aws.client("s3") is as_publisher  # back to the publisher's, from the cache
        session = aws.boto3_session().get_credentials().get_frozen_credentials()
    assert aws.client("s3") is default

    assert _access_key(default) == "AKIADEFAULTCHAIN"
    assert _access_key(as_publisher) == "ASIAPUBLISHER"
    assert _access_key(as_trigger) == "ASIATRIGGER"
    assert (session.access_key, session.token) == ("ASIAPUBLISHER", "p-token")
    assert "p-secret" not in repr(publisher)
    aws.reset_clients()


def test_credentials_are_per_thread(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEFAULTCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "default-secret")
    aws.reset_clients()
    seen: dict[str, str] = {}

    def work(name: str) -> None:
        with aws.using_credentials(aws.Credentials(f"ASIA{name.upper()}", "s")):
            seen[name] = _access_key(aws.client("sqs"))

    threads = [threading.Thread(target=work, args=(n,)) for n in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"one": "ASIAONE", "two": "ASIATWO"}
    assert _access_key(aws.client("sqs")) == "AKIADEFAULTCHAIN"
    aws.reset_clients()
