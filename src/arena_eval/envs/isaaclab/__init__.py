"""Isaac Lab backend adapter (GPU machines): same configs, Isaac Lab's vectorized envs."""
