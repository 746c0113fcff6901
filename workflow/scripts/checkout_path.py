"""Put this checkout first on ``sys.path`` so jobs import its ``pipeline_lib``, also inside ``--sdm conda``
environments that do not install udaflow (Snakemake adds the script's own folder to the path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
