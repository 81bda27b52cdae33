"""Does the frozen detection probe predict a FINE-TUNED detector?  A fine-tuning ground truth (issue 23).

    python -m studies.finetune              # full study (budget: 60 min on 2 cores)
    python -m studies.finetune --quick      # smoke test: 2 networks, 2 folds, 1 epoch; writes nothing
    python -m studies.finetune --from-cache # tables, docs block and validated.json from the cache

For every zoo network with ImageNet weights (``../shared/weights/zoo/zoo.json``: MobileNet v1 α 0.25,
MobileNetV2 α 1.0 and 0.35, MobileNetV3-Small, EfficientNet-Lite0, SqueezeNet 1.1) and random-init
copies of two of them (MobileNet v1 α 0.25, MobileNetV2 α 0.35), on raccoon (200 photos, one class):

* **ground truth**: a detector fine-tuned end to end (``train``: the probe's CenterNet-style head on
  the c4 tap, backbone unfrozen, one fixed schedule of ``plan``), k-fold by image with the folds of
  bbselect's detection probe (``detection.fold_assignment``: same seed, duplicate images grouped),
  every image detected by a detector that never saw it; mAP@0.5 and mAP@[.5:.95] by pycocotools
  (``cocometrics``) with bootstrap intervals over images.  Two schedule lengths (short, long).
* **predictors** on the same networks, images and folds (``plan.PREDICTORS``, under the score
  registry's names where they are registered scores): bbselect's frozen detection probe
  (``det_map50``, ``det_map``: ``detection.run_probe``, its default head and epochs), the cheap box
  scores (``roi_logme``, ``tlogme``, ``objectness``, ``objectness_gain``: ``roiscores.backbone_scores``)
  and the publisher's ImageNet top-1 (zoo.json; a random-init copy counts at chance, 0.1 %).

``measure`` runs the networks (per-network results cached: ``--cache``, default
``results/finetune_cache.json``, never committed, so an interrupted run resumes where it stopped);
``analyse`` turns the measurements into Kendall τ with bootstrap intervals over networks, the
fine-tuned tie set and the gain of pretrained over random init; ``page`` writes the tables and the
docs block; ``write`` rewrites the block between ``<!-- finetune:begin -->`` and
``<!-- finetune:end -->`` of docs/validation.md and the ``finetune`` key of
bbselect/scoring/validated.json (everything else kept).
"""
