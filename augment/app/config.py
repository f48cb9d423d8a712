"""`augment app`'s settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppConfig:
    """`augment app`: the Streamlit page, served on this machine."""

    run: str | None = None  # a run folder to open with; the page can switch to another
    port: int = 8501
    host: str = "127.0.0.1"
    allow_remote: bool = False  # serving beyond loopback is opt-in
