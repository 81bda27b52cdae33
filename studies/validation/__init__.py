"""Do bbselect's cheap scores predict transfer within one family?  A validation study on labelled data
and on real boxes (``python -m studies.validation``; ``--quick`` smoke test, ``--part labels|boxes``,
``--from-json FILE`` to redo the statistics and pages from saved rows).

* Labels part (``measure``): for every configuration (backbone × weights × stage × input size) one
  ``bbselect compare`` run on a labelled folder (trashnet, magnetic-tile-defects); ground truth the
  linear-probe accuracy of the pooled features (``bbselect.probes.labels.probe_scores``, 5-fold CV).
* Box part (``measure_boxes``): per configuration one forward pass on raccoon and coco128; ground truth
  the detection probe's mAP@0.5 (``bbselect.probes.detection``).

Configurations (``plan``): the real ImageNet MobileNet v1 α0.25, the same with random weights (seeds
0-2), random-init ResNet50 / MobileNetV2, and the cascading randomisation of the real MobileNet
(``studies/cascade.py``; Adebayo et al. 2018).  Scores: the registry's (``bbselect.scoring.registry``)
whose ``studied`` names ``validation``.  Statistics (``analyse``): Kendall's τ-b against the ground
truth and the share of (pretrained, degraded) pairs ordered pretrained-first; the support rule is
``bbselect.scoring.validated``'s.  ``write`` prints the tables and writes docs/validation.md,
docs/img/validation_tau.png and the ``labels`` / ``boxes`` keys of ``bbselect/scoring/validated.json``.

Data and weights come from ``../shared`` beside the repo (``--shared`` to point elsewhere).  Maps go to a
temporary folder (deleted at the end unless ``--keep``); the bbselect cache is pointed there, so the
user's cache is never touched.
"""
