"""Monitoring: whether a live version still fits what it sees (drift) and still answers well (realized accuracy).

Above scoring (it reads checked rows and scores with the holdout's metrics),
below training (whose packaging writes each version's profile). Plain numpy
and ``math``: the tests run wherever a batch is scored, the lean Lambda
package included, which has no scipy.

- :mod:`~dropml.monitoring.statistics`: two-sample tests (Kolmogorov-Smirnov, chi-square) and distances
  (Wasserstein, Jensen-Shannon, PSI), checked against scipy's in the tests
- :mod:`~dropml.monitoring.columns`: a column of checked rows as numbers, or categories as text
- :mod:`~dropml.monitoring.profile`: a version's training profile, the reference (``profile.json``)
- :mod:`~dropml.monitoring.batch`: what a batch shows, added up across the blocks of a file or a day's windows
- :mod:`~dropml.monitoring.drift`: a batch against the profile, per column and as a whole, with its alerts
- :mod:`~dropml.monitoring.realized`: labels joined with predictions, their metrics against the holdout's
- :mod:`~dropml.monitoring.challenger`: champion against challenger on the same labelled rows
"""
