"""``cytogate edit``: a browser gate editor whose source of truth is the YAML strategy file.

:class:`EditorSession` holds the round-trip document and the samples and does
every edit (usable from Python without a browser); :func:`create_app` serves it
as a token-protected web app with a JSON API (see docs/edit.md).  Needs the
``edit`` extra (Starlette, uvicorn, ruamel.yaml).
"""

from __future__ import annotations

from .session import EditorSession, EditRefused

__all__ = ["EditRefused", "EditorSession"]
