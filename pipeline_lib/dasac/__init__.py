"""DA-SAC: self-supervised augmentation consistency (Araslanov & Roth, CVPR 2021; spec Part A).

One module per concept of the method:

- ``importance_weights``: per-image class counts of the baseline's target predictions and the
  class-balanced sampling distributions built from them (A.5);
- ``target_views``: the teacher/student views of one target image and their affine bookkeeping (A.6.2),
  and the importance-sampled target dataset that yields them;
- ``view_fusion``: averaging the teacher's softmax over the views that see a pixel (A.6.4);
- ``class_prior``: the moving class prior and the per-class adaptive thresholds (A.6.5);
- ``focal``: the focal class weights and the confidence-weighted target loss (A.6.6);
- ``teacher``: the momentum (EMA) teacher and its update schedule (A.6.3).
"""
