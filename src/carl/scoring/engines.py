"""Running a scoring job on its engine: this process (and ``--workers`` processes), or Ray Data.

:mod:`carl.scoring.job` holds what both engines share (the job, its manifest, the summary) and the
local engine; :mod:`carl.scoring.ray_engine` builds on it; this module picks between them, so the
two import one way.
"""

from __future__ import annotations

from carl.scoring.job import ScoreJob, Summary, run_local
from carl.scoring.ray_engine import run_ray

__all__ = ["run"]


def run(job: ScoreJob) -> Summary:
    """Run ``job`` on its engine."""
    if job.engine == "ray":
        return run_ray(job)
    return run_local(job)
