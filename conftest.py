"""Session fixtures shared by every test suite: LocalStack, AWS clients, the deployed stack.

Unit tests (tests/unit) use none of these and run without LocalStack. The integration
suites ask for ``localstack`` (directly or through the stack fixtures), which reuses a
LocalStack that already answers, or brings one up and takes it down at the end.
"""

import logging

import pytest

LOG = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def localstack():
    """A ready LocalStack for the session, as a ``tapstack.runtime.Runtime``.

    Reuses one that already runs (external endpoint, or one ``tapstack up`` started) and
    leaves it running; one this fixture starts is stopped when the session ends.
    """
    from tapstack import runtime

    settings = runtime.RuntimeSettings.from_env()
    started = runtime.up(settings)
    LOG.info("LocalStack (%s mode) at %s", started.mode, started.endpoint)
    yield started
    if started.started:
        runtime.down(settings)
