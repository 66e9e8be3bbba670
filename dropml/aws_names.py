"""Names AWS refuses, caught before they reach AWS: S3 bucket names and stack names.

The rules are S3's "General purpose bucket naming rules" (Amazon S3 User Guide): 3-63 characters of lower-case
letters, digits, dots and hyphens, a letter or digit at each end, no two adjacent dots, not an IP address, none
of the reserved prefixes and suffixes. The data bucket is named ``<stack>-<account>-<region>`` (template.yaml),
so the stack name is held to what keeps that name valid in every region.
"""

from __future__ import annotations

import re

from dropml.errors import BadInput

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
ACCOUNT_ID_LENGTH = 12
LONGEST_REGION = len("ap-southeast-5")  # 14: the longest commercial region names
# <stack>-<12-digit account>-<region> must stay within S3's 63 characters in every region
MAX_STACK_NAME = 63 - ACCOUNT_ID_LENGTH - LONGEST_REGION - 2
_STACK = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_STACK_NAME - 1}}}")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a general purpose bucket name, or None if it accepts it."""
    if not 3 <= len(name) <= 63:
        return f"a bucket name has 3 to 63 characters (this one has {len(name)})"
    if not _BUCKET.fullmatch(name):
        return "a bucket name has only lower-case letters, digits, dots and hyphens, with a letter or digit at each end"
    if ".." in name:
        return "a bucket name has no two adjacent dots"
    if _IP_ADDRESS.fullmatch(name):
        return "a bucket name is not an IP address"
    if name.startswith(RESERVED_PREFIXES) or name.endswith(RESERVED_SUFFIXES):
        return f"S3 reserves the prefixes {RESERVED_PREFIXES} and the suffixes {RESERVED_SUFFIXES}"
    return None


def check_bucket_name(name: str, field: str = "bucket") -> str:
    """``name`` if S3 accepts it as a bucket name.

    Raises:
        BadInput: S3 would refuse it (names the rule).
    """
    problem = bucket_name_problem(name)
    if problem:
        raise BadInput(field, name, f"{field} {name!r} is not a valid S3 bucket name: {problem}")
    return name


def check_stack_name(name: str) -> str:
    """``name`` if it can name a dropml stack (its data bucket is ``<stack>-<account>-<region>``).

    Raises:
        BadInput: upper case, a character CloudFormation or S3 refuses, or too long for the bucket name.
    """
    if not _STACK.fullmatch(name) or name.endswith("-"):
        raise BadInput(
            "stack",
            name,
            f"stack name {name!r}: lower-case letters, digits and hyphens, from a letter to a letter or digit, "
            f"at most {MAX_STACK_NAME} characters (it names the data bucket <stack>-<account>-<region>)",
        )
    return name
