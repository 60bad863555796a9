"""The one structured logger every handler shares.

Powertools writes one JSON object a line to stdout; the service name comes from
``POWERTOOLS_SERVICE_NAME`` and the level from ``LOG_LEVEL``. Every handler appends the
webhook's ``event_id`` as a key, so one webhook can be followed from API Gateway to SNS.
"""

from aws_lambda_powertools import Logger

logger = Logger()
