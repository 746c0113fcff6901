"""Self-training family (CBST, ECCV 2018; MLSL, WACV 2020): pseudo-labels from per-class thresholds.

One module per concept of ``shared/spec/cbst_mlsl.md``: ``portions`` (§2.2 schedules), ``thresholds``
(§4.3-4.4 streaming confidence histograms and k_c), ``spatial_prior`` (§5), ``prediction_store``
(§14: stride-8 float16 probabilities in HDF5), ``pseudo_labels`` (§4.5 labels, §8 SISC aggregation),
``mining`` (§6 small-class patch mining) and ``weak_labels`` (§9 MLSL pseudo weak labels).
"""
