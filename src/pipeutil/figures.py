"""Report figures: matplotlib without a display (Agg), written atomically (a killed job leaves no PNG)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 110, tight: bool = True) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically and close it (``tight``: bbox_inches="tight")."""
    with atomic_path(path) as tmp:
        if tight:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        else:
            fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
