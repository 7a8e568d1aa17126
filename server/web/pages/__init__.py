"""The public pages: routes.py serves them, render.py writes them, texts.py and
language.py speak Russian and English, rate_limit.py bounds the searches."""

from server.web.pages.routes import add_routes

__all__ = ["add_routes"]
