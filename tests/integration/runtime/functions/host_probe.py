"""Handlers the host-executor tests deploy, one zip with this module as its only file."""

import os
import sys
import time

import boto3


def describe(event, context):
    """Return the event, what the context offers, and where the process runs."""
    return {
        "event": event,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "sys_path_0": sys.path[0],
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        },
        "environment": dict(os.environ),
    }


def fail(event, context):
    raise ValueError(f"probe failure: {event.get('reason', 'asked to')}")


def sleep(event, context):
    """Print the pid (so a test can find the process), then sleep ``event['seconds']``."""
    print(f"probe pid={os.getpid()}", flush=True)
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}


def shout(event, context):
    """Print the marker on stdout and stderr, for the CloudWatch Logs test."""
    print(f"stdout {event['marker']}")
    print(f"stderr {event['marker']}", file=sys.stderr)
    return "ok"


def copy_stream_records(event, context):
    """Copy each INSERT's new image into the table named by TARGET_TABLE, through LocalStack."""
    dynamodb = boto3.client("dynamodb")
    for record in event["Records"]:
        if record["eventName"] == "INSERT":
            image = record["dynamodb"]["NewImage"]
            image["seenBy"] = {"S": context.function_name}
            dynamodb.put_item(TableName=os.environ["TARGET_TABLE"], Item=image)
    return {"copied": len(event["Records"])}
