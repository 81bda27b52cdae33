"""Does any score rank backbones ACROSS families, and does it beat the static prior?  (issue 22)

    python -m studies.zoo                    # full cross-family study (~40 min on 2 shared cores)
    python -m studies.zoo --quick            # smoke test: 4 networks, 60 images; writes no validated.json
    python -m studies.zoo --from-json FILE   # redo statistics and the page from saved rows

Configurations (``plan``; every data set): the six ImageNet networks of ``../shared/weights/zoo``
(MobileNet v1 α0.25, MobileNetV2 α1.0 and α0.35, MobileNetV3-Small, EfficientNet-Lite0, SqueezeNet 1.1)
at their two deepest stages, input 224; the off-task VGG16 (HED edge detector) at c4, c5; random-init
MobileNetV2 α1.0 and MobileNetV3-Small at c4, c5 (seed 0); the cascading randomisation of MobileNet v1 at
c5, k = 1, 4, 8 (``studies/cascade.py``).  Networks are loaded by ``networks`` (one function) and handed
to bbselect through ``register_model``.

Data and ground truths (``measure``): trashnet and magnetic-tile-defects (stretch to 224; linear-probe
accuracy, ``bbselect.probes.labels``), raccoon (letterbox 224; detection-probe mAP@0.5,
``bbselect.probes.detection``); each ground truth checked against a second head of another design
(``heads``).  Estimators: the registry's scores whose ``studied`` names ``zoo``, and the static priors
(ImageNet top-1, parameter count, GFLOPs) as rows of the same table.  Statistics and the rule in
``analyse``; ``write`` rewrites the block between ``<!-- zoo:begin -->`` and ``<!-- zoo:end -->`` of
docs/validation.md and the ``zoo`` key of bbselect/scoring/validated.json (everything else kept).
"""
