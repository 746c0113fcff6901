"""udaflow's PyTorch library: data, models, training engine and evaluation behind every workflow job."""

__version__ = "0.1.0"
