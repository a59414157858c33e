"""Hydra plugin package of arena-eval (Hydra finds plugins in the hydra_plugins namespace)."""
