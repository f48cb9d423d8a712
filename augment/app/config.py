"""`augment app`'s settings: each option declared once (core/options.py)."""

from __future__ import annotations

from dataclasses import dataclass

from augment.core.options import option


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """`augment app`: the Streamlit page, served on this machine."""

    run: str | None = option(
        None, "Folder to open: an `augment run` folder, a GAN run or one output (the page can switch to another)."
    )
    port: int = option(8501, "Port to serve on.")
    host: str = option("127.0.0.1", "Address to bind; anything but loopback needs --allow-remote.")
    allow_remote: bool = option(False, "Allow a --host other machines can reach (serving beyond loopback is opt-in).")
