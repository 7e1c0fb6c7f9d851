"""A py-ipv8 3.2 peer on loopback for the interop test (cli/tests/pyipv8_interop.rs).

Runs one IPv8 instance with one community (id given in hex), a random walker and no
bootstrap servers; walks to the addresses it is given; prints one JSON line a second with
its own member id and the member ids of the peers it has verified.

    python peer.py --port 19001 --community 69707638... [--walk-to 127.0.0.1:19000] --seconds 30
"""

import argparse
import asyncio
import json
import sys

from ipv8.community import Community, CommunitySettings
from ipv8.configuration import ConfigBuilder, Strategy, WalkerDefinition
from ipv8_service import IPv8


def community_class(community_id: bytes) -> type:
    class InteropCommunity(Community):
        pass

    InteropCommunity.community_id = community_id
    return InteropCommunity


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--community", required=True)
    ap.add_argument("--walk-to", action="append", default=[])
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()

    cls = community_class(bytes.fromhex(args.community))
    builder = ConfigBuilder().clear_keys().clear_overlays()
    builder.set_working_directory(":memory:")
    builder.set_address("127.0.0.1")
    builder.set_port(args.port)
    builder.set_walker_interval(0.5)
    builder.add_ephemeral_key("me")
    builder.add_overlay("InteropCommunity", "me", [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})], [], {}, [])
    ipv8 = IPv8(builder.finalize(), extra_communities={"InteropCommunity": cls})
    await ipv8.start()
    overlay = ipv8.get_overlay(cls)
    # On loopback py-ipv8 would advertise the host's LAN address; pin it to loopback.
    here = ("127.0.0.1", args.port)
    overlay.my_estimated_lan = here
    overlay.my_estimated_wan = here
    overlay._get_lan_address = lambda *a, **k: here  # noqa: SLF001
    for target in args.walk_to:
        host, port = target.rsplit(":", 1)
        overlay.walk_to((host, int(port)))
    loop = asyncio.get_running_loop()
    end = loop.time() + args.seconds
    while loop.time() < end:
        peers = sorted(p.mid.hex() for p in overlay.get_peers())
        print(json.dumps({"mid": overlay.my_peer.mid.hex(), "peers": peers}), flush=True)
        await asyncio.sleep(1.0)
    await ipv8.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
