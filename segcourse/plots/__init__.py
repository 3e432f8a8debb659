"""Figures for the course: samples, predictions with error maps, training curves, score spreads.

Every function returns a titled matplotlib Figure with labelled axes and never calls
`plt.show()`: in a notebook the figure appears at the end of the cell (assign the result,
`fig = ...`, to avoid seeing it twice); in scripts save it with `fig.savefig(...)`.
Colours come from the Okabe-Ito palette, which stays distinguishable with colour blindness.
"""

from segcourse.plots.alt_text import ALT_ATTRIBUTE, alt_text, describe
from segcourse.plots.charts import (
    compare_histories,
    plot_histogram,
    plot_history,
    plot_paired_scores,
    plot_score_distribution,
    plot_threshold_scan,
)
from segcourse.plots.masks import (
    ERROR_COLORS,
    ERROR_LABELS,
    PREDICTION_COLOR,
    TRUTH_COLOR,
    compare_predictions,
    error_map,
    outline,
    overlay,
    show_images,
    show_predictions,
    show_samples,
)
