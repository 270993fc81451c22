"""Running the app under uvicorn: the body of ``carl serve``."""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import socket

from carl.errors import CarlError
from carl.serving.settings import ServeSettings

MAX_HEADER_BYTES = 16 * 1024
"""Request line and headers of one request (h11's buffer); more -> 400 from uvicorn."""


def check_port(host: str, port: int) -> None:
    """Fail before the (slow) model load when the address cannot be bound."""
    if not 0 <= port <= 65535:
        raise CarlError(f"--port {port}: choose a port between 1 and 65535 (0 = any free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CarlError(f"--host {host}: not an address of this machine ({exc.strerror}); 127.0.0.1 serves this "
                        "machine only, 0.0.0.0 every interface") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = "choose another --port" if exc.errno == errno.EADDRINUSE else "check --host and --port"
            raise CarlError(f"cannot listen on {host}:{port} ({exc.strerror}); {hint}") from None


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Host names answered: bound to loopback, the loopback names and the bound address itself (127.0.0.2
    is a loopback address too: before, its own address was refused), plus ``extra``, so that a web page
    whose name an attacker re-points at 127.0.0.1 (DNS rebinding) cannot read the API; bound to other
    addresses, any name unless ``extra`` lists them. ``*`` in ``extra``: any name."""
    if extra and "*" in extra:
        return None
    if is_loopback(host):
        bare = host.strip("[]").lower()
        own = f"[{bare}]" if ":" in bare else bare
        return tuple(dict.fromkeys((*LOOPBACK_NAMES, own, *(extra or ()))))
    return tuple(extra) if extra else None


def serve(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          graceful_timeout_s: float = 30.0) -> None:
    """Load the model, then serve until SIGINT/SIGTERM; in-flight requests finish before exit."""
    try:
        import uvicorn
    except ImportError:
        raise CarlError('carl serve needs FastAPI and uvicorn: pip install "carl-affect[serve]"') from None
    from carl.serving.app import create_app  # optional: fastapi (carl-affect[serve])

    settings = dataclasses.replace(settings, allowed_hosts=allowed_hosts(host, settings.allowed_hosts)).validate()
    check_port(host, port)
    app = create_app(settings)
    logging.getLogger("carl.serving").setLevel(log_level.upper())
    engine = app.state.engine
    print(f"carl serve: {engine.name} ({engine.backend}, dimension {engine.dimension}, max {engine.max_tokens} "
          f"tokens, V-A head {'yes' if engine.va_head is not None else 'no'}, base model "
          f"{engine.base_name if engine.base is not None else 'none'}); explorer at http://{host}:{port}/ , "
          f"API docs at /docs", flush=True)
    uvicorn.Server(uvicorn_config(app, settings, host=host, port=port, log_level=log_level,
                                  graceful_timeout_s=graceful_timeout_s)).run()


def uvicorn_config(app, settings: ServeSettings, *, host: str, port: int, log_level: str = "info",
                   graceful_timeout_s: float = 30.0):
    """uvicorn with carl's limits: connections, keep-alive, header size and header deadline."""
    import uvicorn

    from carl.serving.limits import header_timeout_protocol  # optional: starlette (carl-affect[serve])

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=graceful_timeout_s,
                          access_log=log_level == "debug", http=header_timeout_protocol(settings.timeout_headers_s),
                          limit_concurrency=settings.limit_concurrency,
                          timeout_keep_alive=settings.timeout_keep_alive_s,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES)
