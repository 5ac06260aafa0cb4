"""Client settings from FACEGATE_* configuration, for kafka-python (admin) and aiokafka (data)."""

from __future__ import annotations

import ssl
from typing import Any

from gateway.settings import SecurityProtocol, Settings


def _credentials(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {"security_protocol": settings.security_protocol.value}
    if settings.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        if not settings.sasl_username or settings.sasl_password is None:
            raise ValueError(
                f"security_protocol {settings.security_protocol} needs "
                "FACEGATE_SASL_USERNAME and FACEGATE_SASL_PASSWORD"
            )
        config.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password.get_secret_value(),
        )
    return config


def _uses_tls(settings: Settings) -> bool:
    return settings.security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    config = {"bootstrap_servers": settings.bootstrap_servers.split(","), **_credentials(settings)}
    if _uses_tls(settings) and settings.ssl_cafile:
        config["ssl_cafile"] = str(settings.ssl_cafile)
    return config


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    config = {"bootstrap_servers": settings.bootstrap_servers, **_credentials(settings)}
    if _uses_tls(settings):
        config["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    return config
