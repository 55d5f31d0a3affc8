"""The study as data: its documented tables and settings (``documented``), its published curves (``curves``), the
experiments and claims built from them (``experiments``, ``claims``, the catalogue in ``catalog``) and the profiles
that scale them down (``profiles``). Torch-free."""
