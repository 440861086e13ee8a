"""NATS connection options (auth, TLS) from settings, passed through to nats-py."""

from __future__ import annotations

import ssl

from prompt_alchemy.bus import NatsOptions
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.runtime.settings import Settings

__all__ = ["nats_options"]


CLIENT_CONNECT_ATTEMPTS = 3
PROCESS_CONNECT_ATTEMPTS = 60  # x reconnect_time_wait (0.5 s) plus connect timeouts


def nats_options(settings: Settings, *, name: str = "prompt-alchemy", long_running: bool = True) -> NatsOptions:
    """Auth and TLS from ``settings``. Once connected, every process reconnects forever (it outlives
    a NATS restart). The first connection is bounded: a client command (``--nats``) gives up after
    a few attempts; a long-running process waits about half a minute for a server that is not up
    yet (or refuses its credentials) and then exits with the reason.
    """
    tls: ssl.SSLContext | None = None
    if settings.nats_tls_ca or settings.nats_tls_cert:
        try:
            tls = ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)
            if settings.nats_tls_cert:
                tls.load_cert_chain(
                    str(settings.nats_tls_cert), str(settings.nats_tls_key) if settings.nats_tls_key else None
                )
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"NATS TLS files cannot be loaded: {error}") from error
    return NatsOptions(
        name=name,
        max_reconnect_attempts=-1,
        connect_attempts=PROCESS_CONNECT_ATTEMPTS if long_running else CLIENT_CONNECT_ATTEMPTS,
        user=settings.nats_user,
        password=settings.nats_password.get_secret_value() if settings.nats_password else None,
        token=settings.nats_token.get_secret_value() if settings.nats_token else None,
        user_credentials=str(settings.nats_creds) if settings.nats_creds else None,
        tls=tls,
    )
