"""arena-eval: evaluate robot policies in simulation, from one job to SLURM sweeps."""

__version__ = "0.1.0"
