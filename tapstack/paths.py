"""Where the project's files and the harness's local state live."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT_ROOT / "template" / "TapStack.json"
PARAMETERS_DIR = PROJECT_ROOT / "template" / "parameters"
HANDLERS_DIR = PROJECT_ROOT / "handlers"


def state_dir() -> Path:
    """The gitignored folder for LocalStack, caches and build output (``TAPSTACK_STATE_DIR``)."""
    configured = os.environ.get("TAPSTACK_STATE_DIR")
    return Path(configured).resolve() if configured else PROJECT_ROOT / ".tapstack"
