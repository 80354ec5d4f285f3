"""Ground truth for importance methods: planted shortcuts, human rationales, randomisation.

Agreement between two unverified methods cannot say which one is right; where the cause
of a prediction is known, it can (GUIDE section 5).

* :mod:`~analysis.groundtruth.shortcuts`: plant a token that decides the label into
  real text (Bastings et al. 2022), check that the model relies on it, and score where
  each method ranks it (faithfulness against a known cause);
* :mod:`~analysis.groundtruth.plausibility`: token F1, IOU F1 (at the rationale length and of
  the top 5 words) and AUPRC against human
  rationales (HateXplain, ERASER movie reviews; DeYoung et al. 2020) - plausibility,
  reported apart from faithfulness;
* :mod:`~analysis.groundtruth.sanity`: cascading randomisation of the model's weights
  (Adebayo et al. 2018);
* :mod:`~analysis.groundtruth.stages`, :mod:`~analysis.groundtruth.figures` and
  :mod:`~analysis.groundtruth.report_section`: the workflow stages, figures and the
  study summary's section.
"""
