"""Gateway failures, each with the MCP error code the seeds use (see `voicegw_cli.projects`)."""

from __future__ import annotations

from voicegw_cli.errors import ConfigError, NotFoundError, UsageError, VoicegwError
from voicegw_cli.projects import _Coded


class ProviderNotFoundError(_Coded, NotFoundError):
    code = "PROVIDER_NOT_FOUND"


class ProviderExistsError(_Coded, VoicegwError):
    exit_code = 1
    code = "PROVIDER_ALREADY_EXISTS"


class GatewayModelNotFoundError(_Coded, NotFoundError):
    code = "MODEL_NOT_FOUND"


class ModelExistsError(_Coded, VoicegwError):
    exit_code = 1
    code = "MODEL_ALREADY_EXISTS"


class GatewayValidationError(_Coded, UsageError):
    code = "VALIDATION_ERROR"


class ReadOnlyResourceError(_Coded, UsageError):
    code = "READ_ONLY_RESOURCE"


class BuildError(ConfigError):
    """A plugin could not be built from what the config says: names the file and the key
    that led here (a stack entry, a fallback position, a provider's key)."""

    code = "BUILD_ERROR"


class KeyMissingError(BuildError):
    """No API key in any layer, or a layer names a `${VAR}` that is unset."""

    code = "KEY_MISSING"
