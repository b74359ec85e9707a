"""DIKE's math (Chang 2024): the seven signed emotion spectra, behavior spectra
with L levels, the fitted matrix Γ, and guardrails over levels.

Pure: may import ``models`` (label sets), numpy, yaml and the standard library;
never ``streams.core`` (the core uses DIKE, not the other way) nor any adapter.
The reviewer that debates violations talks HTTP and lives in ``streams.review``.
"""
