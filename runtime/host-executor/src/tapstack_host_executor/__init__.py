"""A LocalStack Lambda runtime executor that runs execution environments as host processes.

Install it into LocalStack's own virtual environment and start LocalStack with
``LAMBDA_RUNTIME_EXECUTOR=tapstack-host``. See README.md for what it does and does not do.
"""

__version__ = "0.1.0"
