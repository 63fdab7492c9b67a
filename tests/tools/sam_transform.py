"""Expands template.yaml with the AWS SAM transform, as CloudFormation would, into JSON.

Usage: python tests/tools/sam_transform.py template.yaml OUT.json
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names its policies itself; nothing needs looking up in an AWS account."""

    def load(self):
        return {}


def main() -> None:
    # The transform asks the environment for a region; any will do for a lint.
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-east-1")
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # What `sam package` does before deploying: local code folders become S3 objects.
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(props.get("CodeUri", "")).startswith("s3://"):
            props["CodeUri"] = f"s3://sam-artifacts/{name}.zip"
    expanded = transform(template, {"AWS::Region": "ap-east-1", "AWS::Partition": "aws"}, NoManagedPolicies())
    with open(out, "w", encoding="utf-8") as f:
        json.dump(expanded, f, indent=1)


if __name__ == "__main__":
    main()
