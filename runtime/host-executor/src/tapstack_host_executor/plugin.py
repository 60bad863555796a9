"""The plux plugin through which LocalStack finds the executor.

LocalStack picks its Lambda runtime executor by the name in ``LAMBDA_RUNTIME_EXECUTOR``
from the entry-point namespace ``localstack.lambda.runtime_executor`` (see this package's
pyproject.toml). Loading this module must stay cheap: plux imports it while it indexes
every plugin, so the executor itself is imported only in ``load``.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

PLUGIN_NAME = "tapstack-host"


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Runs Lambda execution environments as host processes (no Docker needed)."""

    name = PLUGIN_NAME

    def load(self, *args, **kwargs):
        from tapstack_host_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
