"""The classifier (run time) and its training (``models.training``, needs PyTorch)."""

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # affect-1, the default release
