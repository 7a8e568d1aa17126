"""`serve`: run the server (server/web/serve.py) with the home's settings, HOST:PORT
options overriding them."""

from __future__ import annotations

import argparse
import dataclasses

from config import load_settings
from server.cli.subordinate import refuse_pending
from server.node.home_permissions import refuse_shared_home
from server.web.serve import configure_logging
from server.web.serve import serve as serve_until_stopped


async def serve(args: argparse.Namespace) -> int:
    configure_logging()
    refuse_pending(args.home)
    settings = load_settings(args.home)
    refuse_shared_home(settings)
    overrides = {k: v for k, v in (("http", args.http), ("https", args.https)) if v}
    if overrides:
        settings = dataclasses.replace(
            settings, server=dataclasses.replace(settings.server, **overrides)
        )
        settings.server.check()
    await serve_until_stopped(settings)
    return 0
