"""The outputs object: derived URL, immutability, the JSON file round trip."""

import pytest

from tapstack.stack.errors import OutputsError
from tapstack.stack.outputs import REQUIRED_OUTPUTS, StackOutputs

OUTPUTS = {name: f"{name.lower()}-value" for name in REQUIRED_OUTPUTS} | {
    "ApiId": "abc123",
    "ApiStageName": "prod",
    "ApiEndpoint": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/",
}


def make_outputs(endpoint="http://127.0.0.1:4566/"):
    return StackOutputs("TapStackdev", OUTPUTS, "secret-key", endpoint)


def test_webhook_url_on_localstack_uses_the_user_request_path():
    outputs = make_outputs()

    assert outputs.webhook_url == (
        "http://127.0.0.1:4566/restapis/abc123/prod/_user_request_/webhooks"
    )


def test_webhook_url_on_aws_uses_the_api_endpoint():
    outputs = make_outputs(endpoint=None)

    assert outputs.webhook_url == (
        "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhooks"
    )


def test_outputs_cannot_be_changed():
    outputs = make_outputs()

    with pytest.raises(TypeError):
        outputs.outputs["ApiId"] = "other"
    with pytest.raises(AttributeError):
        outputs.api_key_value = "other"


def test_missing_output_names_the_output_and_the_stack():
    outputs = StackOutputs("TapStackdev", {"ApiId": "x"}, "key")

    with pytest.raises(OutputsError, match="TapStackdev has no output AlertsTableName"):
        outputs["AlertsTableName"]


def test_function_names_by_logical_id():
    names = make_outputs().function_names

    assert names["CheckAlertsFunction"] == "checkalertsfunctionname-value"
    assert len(names) == 4


def test_write_then_load_gives_the_same_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPSTACK_STATE_DIR", str(tmp_path))
    outputs = make_outputs()

    path = outputs.write()
    loaded = StackOutputs.load()

    assert path == tmp_path / "stack-outputs.json"
    assert loaded == outputs
    assert loaded.webhook_url == outputs.webhook_url


def test_load_of_a_broken_file_says_which_file_and_what_to_run(tmp_path):
    broken = tmp_path / "stack-outputs.json"
    broken.write_text("{not json")

    with pytest.raises(OutputsError, match="tapstack outputs"):
        StackOutputs.load(broken)
