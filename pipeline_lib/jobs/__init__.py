"""Job entry points: each reads a job's input files, calls the library, writes its outputs.

The workflow's scripts (``workflow/scripts``) only forward Snakemake's inputs, outputs and params
here, so every job can also be run and tested without Snakemake.
"""
