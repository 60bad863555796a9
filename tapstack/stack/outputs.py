"""A deployed stack's outputs as one frozen object, and the file other tools read them from.

:func:`read_outputs` asks CloudFormation for the outputs and API Gateway for the API key's
value; :meth:`StackOutputs.write` puts them in ``<state dir>/stack-outputs.json``.
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from botocore.exceptions import ClientError

from tapstack.paths import state_dir
from tapstack.stack.errors import OutputsError

LOG = logging.getLogger(__name__)

OUTPUTS_FILE_NAME = "stack-outputs.json"
WEBHOOK_PATH = "webhooks"

REQUIRED_OUTPUTS = (
    "ApiEndpoint",
    "ApiId",
    "ApiStageName",
    "ApiKeyId",
    "PriceHistoryTableName",
    "AlertsTableName",
    "NotificationTopicArn",
    "CheckAlertsFailureQueueUrl",
    "ProcessWebhookFunctionName",
    "CheckAlertsFunctionName",
    "SendNotificationFunctionName",
    "CleanupHistoryFunctionName",
    "CleanupScheduleRuleName",
    "EnvironmentSuffix",
)

#: Output that names each function, by the function's logical id.
FUNCTION_OUTPUTS = {
    "ProcessWebhookFunction": "ProcessWebhookFunctionName",
    "CheckAlertsFunction": "CheckAlertsFunctionName",
    "SendNotificationFunction": "SendNotificationFunctionName",
    "CleanupHistoryFunction": "CleanupHistoryFunctionName",
}


def outputs_path() -> Path:
    """Where the outputs file lives: ``<state dir>/stack-outputs.json``."""
    return state_dir() / OUTPUTS_FILE_NAME


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of one deployed TapStack, by output name, plus what derives from them.

    ``endpoint`` is the emulator's URL (None on AWS); ``api_key_value`` is the secret the
    webhook callers send as ``x-api-key``.
    """

    stack_name: str
    outputs: Mapping[str, str]
    api_key_value: str
    endpoint: str | None = None

    def __post_init__(self):
        # Frozen all the way down: nobody should patch an output in one test for the next.
        object.__setattr__(self, "outputs", MappingProxyType(dict(self.outputs)))

    def __getitem__(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise OutputsError(
                f"stack {self.stack_name} has no output {name}; it has {sorted(self.outputs)}"
            ) from None

    @property
    def webhook_url(self) -> str:
        """The URL webhooks are posted to.

        On LocalStack this is the gateway's ``/restapis/`` path, which needs no DNS for
        ``*.execute-api.localhost.localstack.cloud`` (see ``tapstack gaps``).
        """
        if self.endpoint:
            api_id, stage = self["ApiId"], self["ApiStageName"]
            base = self.endpoint.rstrip("/")
            return f"{base}/restapis/{api_id}/{stage}/_user_request_/{WEBHOOK_PATH}"
        return f"{self['ApiEndpoint'].rstrip('/')}/{WEBHOOK_PATH}"

    @property
    def function_names(self) -> dict[str, str]:
        """Physical function name by logical id."""
        return {logical: self[output] for logical, output in FUNCTION_OUTPUTS.items()}

    def as_dict(self) -> dict:
        """Everything as plain values, the derived webhook URL included."""
        return {
            "stack_name": self.stack_name,
            "endpoint": self.endpoint,
            "webhook_url": self.webhook_url,
            "api_key_value": self.api_key_value,
            "outputs": dict(self.outputs),
        }

    def write(self, path: Path | None = None) -> Path:
        """Write the outputs as JSON (to :func:`outputs_path` by default); return the path."""
        target = path or outputs_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n")
        # A rename, so a reader in another process never sees half a file.
        temporary.replace(target)
        return target

    @classmethod
    def load(cls, path: Path | None = None) -> "StackOutputs":
        """Read an outputs file written by :meth:`write`."""
        source = path or outputs_path()
        try:
            data = json.loads(source.read_text())
            return cls(
                stack_name=data["stack_name"],
                outputs=data["outputs"],
                api_key_value=data["api_key_value"],
                endpoint=data.get("endpoint"),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise OutputsError(
                f"cannot read stack outputs from {source}: {exc}; run `tapstack outputs`"
            ) from exc


def read_outputs(cloudformation, apigateway, stack_name: str, endpoint: str | None) -> StackOutputs:
    """Read a deployed stack's outputs and its API key's value.

    :raises OutputsError: when an output the harness relies on is missing.
    """
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise OutputsError(f"cannot describe stack {stack_name}: {exc}") from exc
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}

    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise OutputsError(
            f"stack {stack_name} ({stack['StackStatus']}) lacks outputs {missing}; "
            "the template and docs/architecture.md disagree"
        )

    key = apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)
    return StackOutputs(
        stack_name=stack_name,
        outputs=outputs,
        api_key_value=key["value"],
        endpoint=endpoint,
    )
