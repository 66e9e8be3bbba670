"""S3's bucket-naming rules and the stack names whose data bucket they keep valid, checked before AWS sees them."""

from __future__ import annotations

import pytest

from dropml import aws_names as names
from dropml.errors import BadInput


@pytest.mark.parametrize(
    "name",
    ["dropml-123456789012-us-east-1", "abc", "a" * 63, "my.bucket-1", "dropml-deploy-123456789012-ap-southeast-5"],
)
def test_names_s3_accepts(name):
    assert names.bucket_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("dropml-zappa-deployments-CHANGE-ME", "lower-case"),  # the old placeholder zappa_settings.json kept (B2)
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("-dropml", "lower-case"),
        ("dropml-", "lower-case"),
        ("drop..ml", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("xn--dropml", "reserves"),
        ("sthree-dropml", "reserves"),
        ("dropml-s3alias", "reserves"),
        ("dropml--ol-s3", "reserves"),
        ("under_score", "lower-case"),
    ],
)
def test_names_s3_refuses_say_which_rule(name, rule):
    assert rule in names.bucket_name_problem(name)
    with pytest.raises(BadInput, match="not a valid S3 bucket name"):
        names.check_bucket_name(name)


def test_the_longest_stack_name_still_names_a_valid_bucket_in_the_longest_region():
    stack = "s" * names.MAX_STACK_NAME
    assert names.check_stack_name(stack) == stack
    assert names.bucket_name_problem(f"{stack}-123456789012-ap-southeast-5") is None
    with pytest.raises(BadInput, match=f"at most {names.MAX_STACK_NAME} characters"):
        names.check_stack_name(stack + "s")


@pytest.mark.parametrize("stack", ["Dropml", "1dropml", "dropml_prod", "dropml-", ""])
def test_stack_names_that_would_break_the_data_bucket_are_refused(stack):
    with pytest.raises(BadInput, match="stack name"):
        names.check_stack_name(stack)
