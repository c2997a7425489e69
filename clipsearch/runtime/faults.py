"""What an AWS error means for us: gone, throttled, denied, or a passing fault.

botocore has already retried what its retry mode retries when one of these reaches our code.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "ResourceNotFoundException"})
DENIED = frozenset({"AccessDenied", "403", "AccessDeniedException"})
THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "503",
    }
)
TIMED_OUT = frozenset({"RequestTimeout", "RequestTimeoutException", "408"})
CONDITION_FAILED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_not_found(error: ClientError) -> bool:
    return error_code(error) in NOT_FOUND


def is_transient(error: Exception) -> bool:
    """Throttling, a timeout, a 5xx, or no connection: trying again later may work."""
    if isinstance(error, BotoCoreError):
        return True
    if isinstance(error, ClientError):
        status = http_status(error)
        return error_code(error) in THROTTLED | TIMED_OUT or status == 408 or status >= 500
    return False


def describe(error: Exception) -> str:
    """One line for a response or a log: the service's code and message, never a traceback."""
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{error_code(error) or 'error'}: {message}".rstrip(": ")
    return f"{type(error).__name__}: {error}"
