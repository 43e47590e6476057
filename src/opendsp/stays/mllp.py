"""The MLLP listener: HL7 v2 messages over TCP, one ACK per message."""

from __future__ import annotations

import asyncio
import logging

from hl7.mllp import InvalidBlockError, start_hl7_server

from opendsp.platform import Platform
from opendsp.stays.adt import handle_message

log = logging.getLogger(__name__)


async def serve_mllp(platform: Platform, host: str, port: int) -> asyncio.AbstractServer:
    """Start listening; the returned server is closed by the caller."""

    async def on_connection(reader, writer) -> None:  # type: ignore[no-untyped-def]
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if peer else None
        try:
            while not reader.at_eof():
                try:
                    block = await reader.readblock()
                except InvalidBlockError:
                    log.warning("MLLP: invalid block from %s", peer_text)
                    break
                except asyncio.IncompleteReadError:
                    break
                text = block.decode("utf-8", errors="replace")
                # Database work is synchronous: keep it off the event loop.
                ack = await asyncio.to_thread(handle_message, text, platform=platform, peer=peer_text)
                writer.writeblock(ack.encode("utf-8"))
                await writer.drain()
        finally:
            writer.close()

    return await start_hl7_server(on_connection, host=host, port=port)


def run_mllp(platform: Platform, host: str, port: int) -> None:
    async def main() -> None:
        server = await serve_mllp(platform, host, port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
