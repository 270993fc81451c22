"""Scoring a corpus: ``carl predict-va`` / ``carl embed`` as streaming, resumable jobs (docs/scoring.md).

* :mod:`carl.scoring.sources`: the input read in chunks (.txt, .csv, .tsv, .jsonl, .parquet, a Parquet folder);
* :mod:`carl.scoring.model`: the model loaded once per process, a chunk scored in length-sorted batches;
* :mod:`carl.scoring.sinks`: part files and the output formats (.parquet, a Parquet folder, .jsonl, .csv, .npy);
* :mod:`carl.scoring.job`: commits, the manifest, ``--resume``, worker processes, the summary;
* :mod:`carl.scoring.ray_engine`: the same job on Ray Data (``--engine ray``);
* :mod:`carl.scoring.engines`: ``run``, which runs a job on its engine;
* :mod:`carl.scoring.commands`: the two CLI commands.
"""

from carl.scoring.engines import run
from carl.scoring.job import ScoreJob, Summary
from carl.scoring.model import ModelSpec

__all__ = ["ModelSpec", "ScoreJob", "Summary", "run"]
