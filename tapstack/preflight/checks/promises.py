"""Check the properties TapStack promises, whatever cfn-lint thinks of the template.

Every function runs on arm64; every DynamoDB table and the SNS topic are encrypted with
KMS; the table with a stream (the price history) has TTL on; every table has
point-in-time recovery; every API method needs an API key; every function has an alarm
on its Errors metric.
"""

from collections.abc import Mapping

from tapstack.preflight.checks import resources_of_type, shown
from tapstack.preflight.intrinsics import UNRESOLVED, is_true, resolve
from tapstack.preflight.model import Finding, Severity

CHECK = "promises"


def check_promises(template: Mapping, parameters: Mapping[str, str]) -> list[Finding]:
    """Every broken promise of the template, one finding per resource and property."""
    findings = []
    findings += _arm64(template, parameters)
    findings += _table_encryption(template, parameters)
    findings += _topic_encryption(template, parameters)
    findings += _history_stream_and_ttl(template, parameters)
    findings += _point_in_time_recovery(template, parameters)
    findings += _api_keys(template, parameters)
    findings += _errors_alarms(template, parameters)
    return findings


def _finding(resource, prop, seen, message, fix, severity=Severity.ERROR) -> Finding:
    return Finding(
        check=CHECK,
        severity=severity,
        resource=resource,
        property=prop,
        seen=seen,
        fix=fix,
        message=message,
    )


def _unknowable(resource, prop, raw) -> Finding:
    return _finding(
        resource,
        prop,
        shown(raw),
        f"{resource}.{prop} is only known after a deploy, so the promise cannot be checked",
        f"use a literal value or a Ref to a parameter for {prop}",
        severity=Severity.WARNING,
    )


def _require_true(resource, prop, raw, parameters, message, fix) -> list[Finding]:
    """A finding unless ``raw`` is true; a warning when it cannot be known."""
    verdict = is_true(raw, parameters)
    if verdict is UNRESOLVED:
        return [_unknowable(resource, prop, raw)]
    if not verdict:
        return [_finding(resource, prop, shown(raw), message, fix)]
    return []


def _arm64(template, parameters) -> list[Finding]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::Lambda::Function"):
        raw = properties.get("Architectures")
        value = resolve(raw, parameters)
        if value is UNRESOLVED:
            findings.append(_unknowable(logical_id, "Architectures", raw))
        elif value != ["arm64"]:
            seen = shown(raw) if raw is not None else "(not set: Lambda defaults to x86_64)"
            findings.append(
                _finding(
                    logical_id,
                    "Architectures",
                    seen,
                    f"{logical_id} does not run on arm64 (Graviton), as every TapStack "
                    "function must",
                    'set Architectures to ["arm64"]',
                )
            )
    return findings


def _table_encryption(template, parameters) -> list[Finding]:
    findings = []
    fix = 'set SSESpecification to {"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": ...}'
    for logical_id, properties in resources_of_type(template, "AWS::DynamoDB::Table"):
        sse = properties.get("SSESpecification")
        if not isinstance(sse, dict):
            findings.append(
                _finding(
                    logical_id,
                    "SSESpecification",
                    shown(sse),
                    f"{logical_id} is not encrypted with KMS (DynamoDB's default is an "
                    "AWS owned key)",
                    fix,
                )
            )
            continue
        findings += _require_true(
            logical_id,
            "SSESpecification.SSEEnabled",
            sse.get("SSEEnabled"),
            parameters,
            f"{logical_id} has SSEEnabled off, so it is not encrypted with KMS",
            fix,
        )
        sse_type = resolve(sse.get("SSEType"), parameters)
        if sse_type is UNRESOLVED:
            findings.append(_unknowable(logical_id, "SSESpecification.SSEType", sse["SSEType"]))
        elif sse_type != "KMS":
            findings.append(
                _finding(
                    logical_id,
                    "SSESpecification.SSEType",
                    shown(sse.get("SSEType")),
                    f"{logical_id} does not use KMS for server-side encryption",
                    fix,
                )
            )
    return findings


def _topic_encryption(template, parameters) -> list[Finding]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::SNS::Topic"):
        key = properties.get("KmsMasterKeyId")
        if key in (None, ""):
            findings.append(
                _finding(
                    logical_id,
                    "KmsMasterKeyId",
                    shown(key),
                    f"{logical_id} is not encrypted with KMS",
                    'set KmsMasterKeyId to the stack key, e.g. {"Fn::GetAtt": '
                    '["EncryptionKey", "Arn"]}',
                )
            )
    return findings


def _history_stream_and_ttl(template, parameters) -> list[Finding]:
    tables = dict(resources_of_type(template, "AWS::DynamoDB::Table"))
    streamed = {
        logical_id: properties
        for logical_id, properties in tables.items()
        if isinstance(properties.get("StreamSpecification"), dict)
    }

    if not streamed:
        resource = "PriceHistoryTable" if "PriceHistoryTable" in tables else "(template)"
        return [
            _finding(
                resource,
                "StreamSpecification",
                "(not set)",
                f"no DynamoDB table has a stream ({resource} needs one), so CheckAlerts is "
                "never triggered by new prices",
                'set StreamSpecification {"StreamViewType": "NEW_AND_OLD_IMAGES"} on '
                "the price history table",
            )
        ]

    findings = []
    fix = 'set TimeToLiveSpecification {"AttributeName": "expires_at", "Enabled": true}'
    for logical_id, properties in streamed.items():
        view = properties["StreamSpecification"].get("StreamViewType")
        if view in (None, ""):
            findings.append(
                _finding(
                    logical_id,
                    "StreamSpecification.StreamViewType",
                    shown(view),
                    f"{logical_id} has a StreamSpecification without a StreamViewType",
                    "set StreamViewType to NEW_AND_OLD_IMAGES or NEW_IMAGE",
                )
            )
        ttl = properties.get("TimeToLiveSpecification")
        if not isinstance(ttl, dict) or not ttl.get("AttributeName"):
            findings.append(
                _finding(
                    logical_id,
                    "TimeToLiveSpecification",
                    shown(ttl),
                    f"{logical_id} keeps price history forever: it has no TTL",
                    fix,
                )
            )
            continue
        findings += _require_true(
            logical_id,
            "TimeToLiveSpecification.Enabled",
            ttl.get("Enabled"),
            parameters,
            f"{logical_id} keeps price history forever: its TTL is disabled",
            fix,
        )
    return findings


def _point_in_time_recovery(template, parameters) -> list[Finding]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::DynamoDB::Table"):
        spec = properties.get("PointInTimeRecoverySpecification")
        raw = spec.get("PointInTimeRecoveryEnabled") if isinstance(spec, dict) else None
        findings += _require_true(
            logical_id,
            "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
            raw,
            parameters,
            f"{logical_id} has no point-in-time recovery",
            'set PointInTimeRecoverySpecification {"PointInTimeRecoveryEnabled": true}',
        )
    return findings


def _api_keys(template, parameters) -> list[Finding]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::ApiGateway::Method"):
        method = resolve(properties.get("HttpMethod"), parameters)
        if isinstance(method, str) and method.upper() == "OPTIONS":
            # CORS preflight requests carry no API key.
            continue
        findings += _require_true(
            logical_id,
            "ApiKeyRequired",
            properties.get("ApiKeyRequired"),
            parameters,
            f"{logical_id} ({method if isinstance(method, str) else '?'}) can be called "
            "without an API key",
            "set ApiKeyRequired to true",
        )
    return findings


def _errors_alarms(template, parameters) -> list[Finding]:
    functions = dict(resources_of_type(template, "AWS::Lambda::Function"))
    names = {}
    for logical_id, properties in functions.items():
        name = resolve(properties.get("FunctionName"), parameters)
        if isinstance(name, str):
            names[name] = logical_id

    watched = set()
    for _, properties in resources_of_type(template, "AWS::CloudWatch::Alarm"):
        for metric_name, dimensions in _alarm_metrics(properties):
            if metric_name != "Errors":
                continue
            for dimension in dimensions:
                if not isinstance(dimension, dict) or dimension.get("Name") != "FunctionName":
                    continue
                value = dimension.get("Value")
                watched.add(_function_referred_to(value, functions, names, parameters))

    findings = []
    for logical_id in functions:
        if logical_id in watched:
            continue
        findings.append(
            _finding(
                logical_id,
                "(AWS::CloudWatch::Alarm)",
                "no alarm on its Errors metric",
                f"nobody hears about it when {logical_id} fails: no AWS::CloudWatch::Alarm "
                "watches its Errors metric",
                "add an AWS::CloudWatch::Alarm with Namespace AWS/Lambda, MetricName Errors, "
                f'Dimensions [{{"Name": "FunctionName", "Value": {{"Ref": "{logical_id}"}}}}] '
                "and AlarmActions to the notification topic",
            )
        )
    return findings


def _alarm_metrics(properties: Mapping):
    """``(MetricName, Dimensions)`` of an alarm: its single metric and metric-math parts."""
    if "MetricName" in properties:
        yield properties.get("MetricName"), properties.get("Dimensions") or []
    for query in properties.get("Metrics") or []:
        metric = ((query or {}).get("MetricStat") or {}).get("Metric") or {}
        if metric:
            yield metric.get("MetricName"), metric.get("Dimensions") or []


def _function_referred_to(value, functions, names, parameters) -> str | None:
    """The logical id of the function a FunctionName dimension refers to, if any."""
    if isinstance(value, dict) and value.get("Ref") in functions:
        return value["Ref"]
    resolved = resolve(value, parameters)
    return names.get(resolved) if isinstance(resolved, str) else None
