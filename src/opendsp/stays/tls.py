"""The MLLP listener's TLS: the server's certificate, and a client certificate required of every peer."""

from __future__ import annotations

import ssl

from opendsp.settings import InsecureSettings, Mode, Settings


class ListenerSettingsError(ValueError):
    """The listener's TLS settings cannot be used; the message says which and why."""


def server_context(*, certificate: str, key: str, client_ca: str) -> ssl.SSLContext:
    """TLS 1.2 or later; the handshake fails unless the peer presents a certificate signed by ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as error:
        raise ListenerSettingsError(f"the listener's certificate or key cannot be used: {error}") from None
    try:
        context.load_verify_locations(cafile=client_ca)
    except (OSError, ssl.SSLError) as error:
        raise ListenerSettingsError(f"the client CA bundle {client_ca} cannot be used: {error}") from None
    return context


def listener_tls(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context the settings ask for; None means plain TCP, which only development mode accepts."""
    files = (settings.mllp_tls_certificate, settings.mllp_tls_key, settings.mllp_tls_client_ca)
    if all(file is None for file in files):
        if settings.mode is Mode.production:
            raise InsecureSettings(
                "production mode refuses the MLLP listener over plain TCP: set OPENDSP_MLLP_TLS_CERTIFICATE, "
                "OPENDSP_MLLP_TLS_KEY and OPENDSP_MLLP_TLS_CLIENT_CA"
            )
        return None
    if any(file is None for file in files):
        # Half a configuration is a mistake, not a reason to fall back to plain TCP.
        raise ListenerSettingsError(
            "the MLLP listener needs all three of OPENDSP_MLLP_TLS_CERTIFICATE, OPENDSP_MLLP_TLS_KEY and "
            "OPENDSP_MLLP_TLS_CLIENT_CA"
        )
    certificate, key, client_ca = (str(file) for file in files)
    return server_context(certificate=certificate, key=key, client_ca=client_ca)
