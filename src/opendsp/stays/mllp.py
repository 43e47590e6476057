"""The MLLP listener: HL7 v2 messages over mutual TLS (plain TCP in development), one ACK per message.

The perimeter is here: a connection over the limit (in all, or from one peer
address: an IPv6 peer's /64) is closed before any TLS work; the handshake must end, with a client certificate the CA bundle
verifies, within the idle timeout; a message over the size limit is read to
its end without being kept and answered AR; a peer silent in the middle of a
message (or of the handshake), or too long between two, is disconnected.
What a message may do is ``feed``'s.

Stopping (SIGTERM, Ctrl-C; ``run_mllp``): the listening socket is closed at
once, so new connections are refused; a connection waiting for its next
message is closed; a message already read is handled and its ACK sent, then
its connection is closed. A message only partly received is never
acknowledged: its sender sends it again, to this listener's successor.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from opendsp.accounts.guard import network_of
from opendsp.metrics import count_acknowledgement
from opendsp.platform import Platform
from opendsp.settings import Settings
from opendsp.stays.certificates import fingerprint
from opendsp.stays.feed import Feed
from opendsp.stays.perimeter import Peer, RefusalThrottle
from opendsp.stays.tls import listener_tls

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
# Enough of a message too large to read its MSH segment, so that the AR names the control id.
HEAD_BYTES = 2048
PLAIN_TCP_WARNING = (
    "MLLP listener on %s:%s speaks PLAIN TCP without client certificates: development mode only; "
    "anyone who reaches this port may send as any registered hospital"
)


@dataclass(frozen=True)
class ListenerConfig:
    tls: ssl.SSLContext | None
    max_message_bytes: int = 1024 * 1024
    idle_timeout: float = 30.0
    keepalive: float = 600.0
    max_connections: int = 50
    # One address may not take every slot with handshakes it never finishes.
    max_connections_per_peer: int = 5
    refusal_trace_window: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> ListenerConfig:
        return cls(
            tls=listener_tls(settings),
            max_message_bytes=settings.mllp_max_message_bytes,
            idle_timeout=settings.mllp_idle_timeout_seconds,
            keepalive=settings.mllp_keepalive_seconds,
            max_connections=settings.mllp_max_connections,
            max_connections_per_peer=settings.mllp_max_connections_per_peer,
            refusal_trace_window=timedelta(seconds=settings.mllp_refusal_trace_window_seconds),
        )


class _Disconnect(Exception):
    """The connection ends: end of stream, silence, or bytes that are not MLLP."""


@dataclass(frozen=True)
class _TooLarge:
    head: bytes


class _Framing:
    """MLLP blocks (0x0B message 0x1C 0x0D) read from a stream, never holding more than the limit."""

    def __init__(self, reader: asyncio.StreamReader, config: ListenerConfig) -> None:
        self.reader = reader
        self.config = config
        self.buffer = bytearray()

    async def next(self) -> bytes | _TooLarge:
        while True:
            del self.buffer[: len(self.buffer) - len(self.buffer.lstrip(b"\r\n"))]
            if self.buffer:
                break
            await self._fill(self.config.keepalive, "between messages")
        if self.buffer[:1] != START_BLOCK:
            raise _Disconnect("bytes that are not an MLLP block")
        del self.buffer[:1]
        limit = self.config.max_message_bytes
        while True:
            end = self.buffer.find(END_BLOCK, 0, limit + len(END_BLOCK))
            if end >= 0:
                block = bytes(self.buffer[:end])
                del self.buffer[: end + len(END_BLOCK)]
                return block
            if len(self.buffer) > limit + 1:  # (+1: a last 0x1C may end a message of exactly the limit)
                return await self._skip_rest()
            await self._fill(self.config.idle_timeout, "in the middle of a message")

    async def _skip_rest(self) -> _TooLarge:
        head = bytes(self.buffer[:HEAD_BYTES])
        while (end := self.buffer.find(END_BLOCK)) < 0:
            del self.buffer[:-1]  # keep a last 0x1C whose 0x0D may come next
            await self._fill(self.config.idle_timeout, "in the middle of a message")
        del self.buffer[: end + len(END_BLOCK)]
        return _TooLarge(head)

    async def _fill(self, timeout: float, where: str) -> None:
        try:
            chunk = await asyncio.wait_for(self.reader.read(64 * 1024), timeout)
        except TimeoutError:
            raise _Disconnect(f"silent {where} for {timeout:g} s") from None
        if not chunk:
            raise _Disconnect("end of stream")
        self.buffer += chunk


@dataclass
class Listener:
    """A listening MLLP server, its open conversations, and the event that asks it to stop."""

    server: asyncio.AbstractServer
    conversations: set[asyncio.Task[None]]
    stopping: asyncio.Event

    async def stop(self, grace: float) -> int:
        """Refuse new connections, let each message in hand get its ACK; the number cut off after ``grace``."""
        self.stopping.set()
        self.server.close()
        pending = set(self.conversations)
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)


async def serve_mllp(
    platform: Platform, host: str, port: int, *, config: ListenerConfig | None = None
) -> asyncio.AbstractServer:
    """Start listening; the returned server is closed by the caller."""
    return (await start_listener(platform, host, port, config=config)).server


async def start_listener(
    platform: Platform, host: str, port: int, *, config: ListenerConfig | None = None
) -> Listener:
    config = config or ListenerConfig.from_settings(platform.settings)
    feed = Feed(platform, throttle=RefusalThrottle(clock=platform.clock, window=config.refusal_trace_window))
    open_connections = 0
    open_per_peer: Counter[str] = Counter()
    conversations: set[asyncio.Task[None]] = set()
    stopping = asyncio.Event()

    def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Called as the connection is made, before any byte is read: over the limit, it ends here;
        # under TLS, reading waits for the handshake, so that no byte of it lands in the plain reader.
        nonlocal open_connections
        peer = _peer_network(writer)
        if stopping.is_set():
            writer.transport.abort()  # accepted just before the socket closed: the sender tries elsewhere
            return
        if open_connections >= config.max_connections:
            log.warning("MLLP: connection from %s closed: %d connections open already", _address(writer),
                        open_connections)
            writer.transport.abort()
            return
        if open_per_peer[peer] >= config.max_connections_per_peer:
            log.warning("MLLP: connection from %s closed: %d connections open from %s already", _address(writer),
                        open_per_peer[peer], peer)
            writer.transport.abort()
            return
        open_connections += 1
        open_per_peer[peer] += 1
        if config.tls is not None:
            writer.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(conversation(reader, writer, peer))
        conversations.add(task)
        task.add_done_callback(conversations.discard)

    async def conversation(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, network: str) -> None:
        nonlocal open_connections
        address = _address(writer)
        try:
            peer = await _handshake(writer, config, address)
            if peer is not None:
                await _converse(reader, writer, feed, config, peer, stopping)
        except (ConnectionError, ssl.SSLError) as error:
            log.info("MLLP: connection from %s lost: %s", address, error)
        finally:
            open_connections -= 1
            open_per_peer[network] -= 1
            if not open_per_peer[network]:
                del open_per_peer[network]
            writer.transport.abort()

    server = await asyncio.start_server(on_connection, host=host, port=port)
    bound_to = server.sockets[0].getsockname()[1] if server.sockets else port
    if config.tls is None:
        log.warning(PLAIN_TCP_WARNING, host, bound_to)
    else:
        log.info("MLLP listener on %s:%s over TLS, client certificates required", host, bound_to)
    return Listener(server=server, conversations=conversations, stopping=stopping)


def _peer_network(writer: asyncio.StreamWriter) -> str:
    """What the per-peer limit counts: the peer's address, or its /64 for IPv6 (one subscriber's block)."""
    peer = writer.get_extra_info("peername")
    return network_of(peer[0] if peer else None)


def _address(writer: asyncio.StreamWriter) -> str | None:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if peer else None


async def _handshake(writer: asyncio.StreamWriter, config: ListenerConfig, address: str | None) -> Peer | None:
    """The peer as the TLS handshake proved it (None when it failed), or as an address over plain TCP."""
    if config.tls is None:
        return Peer(address=address)
    # Python before 3.11.4 (Debian 12 has 3.11.2) registers a new connection's socket for reading after
    # connection_made even when reading was paused there (CPython gh-103607): the ClientHello would then land in
    # the plain reader and the handshake wait for it until the timeout. Paused again here, before the first await,
    # the socket leaves the selector (any read already queued is cancelled) until start_tls resumes it.
    writer.transport.resume_reading()
    writer.transport.pause_reading()
    try:
        await asyncio.wait_for(writer.start_tls(config.tls), config.idle_timeout)
    except (TimeoutError, ssl.SSLError, ConnectionError, OSError) as error:
        log.warning("MLLP: TLS handshake with %s failed: %r", address, error)
        return None
    certificate = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    subject = dict(item[0] for item in writer.get_extra_info("peercert").get("subject", ()))
    return Peer(address=address, certificate_sha256=fingerprint(certificate),
                certificate_subject=subject.get("commonName"))


async def _next_unless_stopping(framing: _Framing, stopping: asyncio.Event) -> bytes | _TooLarge | None:
    """The next block, or None when the listener is asked to stop first (a part read is dropped, unacknowledged)."""
    if stopping.is_set():
        return None
    reading = asyncio.ensure_future(framing.next())
    asked = asyncio.ensure_future(stopping.wait())
    done, _ = await asyncio.wait({reading, asked}, return_when=asyncio.FIRST_COMPLETED)
    asked.cancel()
    if reading not in done:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        return None
    return reading.result()


async def _converse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, feed: Feed, config: ListenerConfig, peer: Peer,
    stopping: asyncio.Event,
) -> None:
    framing = _Framing(reader, config)
    while True:
        try:
            block = await _next_unless_stopping(framing, stopping)
        except _Disconnect as why:
            log.info("MLLP: closing the connection from %s: %s", peer.address, why)
            return
        if block is None:
            log.info("MLLP: closing the connection from %s: the listener stops", peer.address)
            return
        # Database work is synchronous: keep it off the event loop.
        if isinstance(block, _TooLarge):
            ack = await asyncio.to_thread(feed.handle_too_large, block.head, limit=config.max_message_bytes, peer=peer)
        else:
            ack = await asyncio.to_thread(feed.handle, block.decode("utf-8", errors="replace"), peer=peer)
        count_acknowledgement(ack)
        writer.write(START_BLOCK + ack.encode("utf-8") + END_BLOCK)
        try:
            await asyncio.wait_for(writer.drain(), config.idle_timeout)
        except TimeoutError:
            log.info("MLLP: closing the connection from %s: it does not read its acknowledgements", peer.address)
            return


def run_mllp(platform: Platform, host: str, port: int, *, config: ListenerConfig | None = None,
             stop: threading.Event | None = None, grace: float = 30.0,
             listening: threading.Event | None = None) -> int:
    """Listen until SIGTERM or Ctrl-C, then stop as the module says; the connections cut off after ``grace``.

    ``listening`` is set once the port is open (the health server answers "starting" until then); ``stop`` is set
    when the signal comes (it then answers "stopping").
    """
    async def main() -> int:
        listener = await start_listener(platform, host, port, config=config)
        if listening is not None:
            listening.set()
        loop = asyncio.get_running_loop()

        def asked_to_stop() -> None:
            if stop is not None:
                stop.set()
            listener.stopping.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, asked_to_stop)
        await listener.stopping.wait()
        log.info("MLLP: stopping; %d connection(s) open", len(listener.conversations))
        cut = await listener.stop(grace)
        if cut:
            log.warning("MLLP: %d connection(s) still busy after %g s were cut off", cut, grace)
        return cut

    return asyncio.run(main())
