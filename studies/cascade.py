"""Cascading randomisation of a pretrained MobileNet v1 (Adebayo et al. 2018, "Sanity checks for
saliency maps"): a graded family between the pretrained network and a random one.

``cascade_weights(weights_file, alpha, top_block, k, images, seed, out)`` loads the pretrained
MobileNet v1, re-initialises the ``k`` depthwise-separable blocks just below (and including) the
tapped block ``top_block`` (c3 = block 5, c4 = block 11, c5 = block 13): both convolutions of each
block get fresh Glorot-uniform kernels (Keras's own initialiser for them, seeded), their batch-norm
layers get gamma = 1, beta = 0, and the batch-norm moving statistics are **re-estimated** on a
calibration batch of the study's own images, layer by layer from the bottom up.  Without that
re-estimation the re-initialised blocks are simply dead (every channel clipped at 0 by ReLU6, as a
random-init MobileNet's c4/c5 is in docs/validation.md) and every score would only measure
"is this network alive?".  Blocks below the re-initialised ones keep their pretrained weights.

The result is saved as a Keras ``.weights.h5`` file and used like any ``--weights PATH``.
``cascade_file`` makes (once per data set, stage and k) the weights file both validation studies
pass to bbselect; not part of the package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bbselect.inputs import decode as dec
from bbselect.inputs.images import discover_images
from bbselect.models import runtime

STAGE_BLOCK = {"c3": 5, "c4": 11, "c5": 13}


def _block_layers(b: int) -> list[tuple[str, str]]:
    return [(f"conv_dw_{b}", f"conv_dw_{b}_bn"), (f"conv_pw_{b}", f"conv_pw_{b}_bn")]


def cascade_weights(weights_file: str, alpha: float, top_block: int, k: int, images: np.ndarray,
                    seed: int, out: Path, input_size: int = 224) -> Path:
    """Write the cascaded weights to ``out`` (a ``.weights.h5`` path) and return it.

    ``images``: a float32 batch [n, input_size, input_size, 3] already preprocessed for MobileNet
    (the calibration batch)."""
    keras = runtime.keras()
    model = keras.applications.MobileNet(weights=weights_file, include_top=False, alpha=alpha,
                                         input_shape=(input_size, input_size, 3))
    blocks = list(range(max(1, top_block - k + 1), top_block + 1))
    for b in blocks:
        for i, (conv_name, bn_name) in enumerate(_block_layers(b)):
            conv = model.get_layer(conv_name)
            init = keras.initializers.GlorotUniform(seed=int(seed) * 1000 + 10 * b + i)
            kernel = conv.weights[0]
            kernel.assign(np.asarray(init(tuple(kernel.shape))))
            bn = model.get_layer(bn_name)
            # moving statistics from the calibration batch, through the already-recalibrated layers
            probe = keras.Model(model.input, conv.output)
            act = np.asarray(probe.predict(images, verbose=0, batch_size=16), dtype=np.float64)
            gamma, beta, mean, var = bn.weights
            gamma.assign(np.ones(gamma.shape, np.float32))
            beta.assign(np.zeros(beta.shape, np.float32))
            mean.assign(act.mean(axis=(0, 1, 2)).astype(np.float32))
            var.assign(act.var(axis=(0, 1, 2)).astype(np.float32))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out))
    return out


def calibration_batch(paths: list[Path], input_size: int = 224, n: int = 32) -> np.ndarray:
    """``n`` images spread evenly over the sorted paths (so every class folder is represented),
    letterboxed and preprocessed for MobileNet."""
    keras = runtime.keras()
    batch = []
    paths = sorted(paths)
    pick = np.unique(np.linspace(0, len(paths) - 1, min(n, len(paths))).round().astype(int))
    for p in (paths[i] for i in pick):
        arr, _ = dec.fit_to_input(dec.load_image(p), input_size, "letterbox")
        batch.append(arr)
    return keras.applications.mobilenet.preprocess_input(np.stack(batch).astype(np.float32))


def cascade_file(data_dir: Path, stage: str, k: int, base: str, work: Path, size: int = 224) -> str:
    """The cascaded weights for one data set (batch-norm statistics from its own images), made once."""
    out = work / "cascade" / f"{data_dir.name}-{stage}-k{k}.weights.h5"
    if not out.exists():
        refs, _ = discover_images(data_dir)
        cal = calibration_batch([r.path for r in refs], size)
        cascade_weights(base, 0.25, STAGE_BLOCK[stage], k, cal, seed=0, out=out, input_size=size)
    return str(out)
