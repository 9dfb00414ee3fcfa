"""The package's Lua scripts (``*.lua`` beside this file), read once by their users."""

from __future__ import annotations

from importlib import resources


def load_script(name: str) -> str:
    """The text of one of the package's Lua scripts."""
    return resources.files("collector").joinpath(name).read_text()
