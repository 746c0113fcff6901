"""The shared training engine: optimiser, schedule, checkpoints, logging."""
