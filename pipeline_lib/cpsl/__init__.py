"""CPSL (Li et al., CVPR 2022) and the ProDA parts it builds on, one module per concept.

``soft_label_store`` / ``hard_label_store`` (pseudo-labels on disk), ``prototypes`` (class means and
their EMA), ``rectification`` (prototype-weighted soft labels), ``sinkhorn`` and ``self_labelling``
(class-balanced assignments of a feature queue), ``consistency`` (weak/strong prototype agreement),
``symmetric_ce``, ``cutmix``, ``strong_augmentation`` (RandAugment with a geometric replay),
``target_views`` (the target sample of stages 1-3) and ``distillation`` (stages 2/3).
Spec: ``shared/spec/cpsl_proda.md``; method notes: ``docs/methods/cpsl.md``.
"""
