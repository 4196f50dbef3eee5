"""mix_assets: find the data mixture for LM pre-training (CLIMB and friends) as Dagster assets."""

__version__ = "0.1.0"
