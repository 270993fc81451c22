"""Pictures of a scored table (``carl plot-va``): V-A density per group, or V-A over time.

The input is what ``carl predict-va`` writes: a ``.parquet`` file (or a folder of them),
``.jsonl``, ``.csv`` or ``.tsv`` with float columns ``valence`` and ``arousal`` and the user's columns
carried through (``group``, ``date``...). Only the needed columns are read, in record batches
(pyarrow), and only aggregates are kept, so memory does not grow with the table:

* :func:`density_by_group`: per group a 2-D histogram of (valence, arousal) on a fixed grid,
  accumulated batch by batch, plus count and means; drawn as one circumplex panel per group.
* :func:`va_over_time`: per period (and group) the count, sum and sum of squares of V and A,
  from which the mean and its 95 % confidence interval (Student t) follow; drawn as lines with
  bands, and the number of texts per period below.
* :func:`scatter_by_emotion` (``--colour-by-emotion``): the texts as points on the circumplex,
  coloured by their dominant emotion (column ``emotion_1``, written by ``carl predict-va
  --emotions``), with each emotion's mean marked; a uniform sample of at most ``max_points`` rows
  is drawn (kept batch by batch with random keys), while counts and means use every row.

Rows without a score (null or NaN valence/arousal), or without a time, are not plotted and are
counted in the result (``skipped``) and the figure's footnote. Each function returns its
aggregates with the PNG's path, so a caller (or a test) can check the numbers drawn.

Modules: :mod:`.table` reads the scored table batch by batch; :mod:`.density`, :mod:`.emotions` and
:mod:`.over_time` aggregate and draw one kind of figure each; :mod:`.circumplex` holds what their figures share.
"""

from carl.evaluation.va_plots.density import DensityResult, GroupDensity, density_by_group
from carl.evaluation.va_plots.emotions import (DEFAULT_MAX_POINTS, EmotionScatterResult, EmotionStats, emotion_colours,
                                               scatter_by_emotion)
from carl.evaluation.va_plots.over_time import FREQUENCIES, PeriodStats, TimeResult, va_over_time
from carl.evaluation.va_plots.table import DEFAULT_MAX_GROUPS, EMOTION_COLUMN, iter_score_batches

__all__ = ["DEFAULT_MAX_GROUPS", "DEFAULT_MAX_POINTS", "EMOTION_COLUMN", "FREQUENCIES", "DensityResult",
           "EmotionScatterResult", "EmotionStats", "GroupDensity", "PeriodStats", "TimeResult", "density_by_group",
           "emotion_colours", "iter_score_batches", "scatter_by_emotion", "va_over_time"]
