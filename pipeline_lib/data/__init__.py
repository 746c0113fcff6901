"""Datasets, label tables, conversion and augmentation."""
