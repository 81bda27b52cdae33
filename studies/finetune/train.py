"""End-to-end fine-tuning of a small detector on one zoo backbone: the fine-tuning study's ground truth.

The detector is bbselect's detection-probe head (``bbselect.probes.detection``: 1x1 conv -> 32 ReLU,
2 x 3x3 conv -> 32 ReLU, centre heatmap / log size / offset heads, focal + L1 losses, the same seeded
initial weights and the same decoding) on the backbone's c4 (stride 16) tap, but with the backbone
UNFROZEN and the input images augmented, so the gradient reaches every backbone layer up to the tap.

Input normalisation of the head is the probe's: per-channel standardisation by the training fold's
statistics of the *initial* backbone's features (fixed afterwards, an affine layer) plus the two
coordinate channels.

Schedule (``plan.Schedule``; one fixed schedule for every network, chosen before any result was seen):

* optimiser: Adam (Keras), one for the head (lr 2e-3, the probe's) and one for the backbone (lr 2e-4,
  a tenth), each with a linear warm-up over the first 10 % of the steps and cosine decay to 0;
* batch 16 images, full batches only (the remainder of an epoch's permutation is dropped);
* augmentation, per training image and step: horizontal flip with probability 0.5 (inside the
  letterboxed content, so the content stays top-left as at test time) and scale jitter: the 224 px
  input resized by a factor drawn log-uniformly from 0.75..1.25, then cropped (zoom in) or pasted on
  the letterbox colour (zoom out) at a random offset; a box keeps its clipped part when that is at
  least 30 % of its area and 2 px on each side, else it is dropped for that step;
* batch norm: every BN layer runs in inference mode with its statistics frozen (batch 16 is too small
  for batch statistics); its scale and offset are trained with the backbone.  Two zoo files
  (MobileNetV2 1.0, MobileNetV3-Small) have BN folded into the conv biases (identity BN), for which this
  is the only choice.  A random-init copy gets its BN statistics estimated once, before anything else,
  from 64 seeded images of the data set (label-free; a data-dependent initialisation, without which a
  random MobileNet's activations vanish to ~1e-16); its frozen-probe features come from that same network;
* the test fold is never augmented, never seen in training, and is decoded by ``detection.decode``.

``trainable="last"`` (the cheap proxy) trains only the backbone's last stage before the tap (the layers
after the last stride-8 output) with the same schedule otherwise.

Everything is seeded (numpy generators for batches and augmentation, ``keras.utils.set_random_seed``
for random-init weights); TensorFlow's CPU kernels are not bit-deterministic under threading, so
repeated runs agree closely, not bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from bbselect.inputs.decode import PAD_RGB
from bbselect.models import runtime
from bbselect.models.stages import find_stages
from bbselect.probes import dethead
from bbselect.probes import detection as det
from studies.finetune.plan import Schedule

# zoo name -> (keras.applications constructor, its options, preprocessing); None = a whole model file
APPLICATIONS = {
    "mobilenet_v1_0.25": ("MobileNet", {"alpha": 0.25}, "tanh"),
    "mobilenetv2_1.0": ("MobileNetV2", {"alpha": 1.0}, "tanh"),
    "mobilenetv2_0.35": ("MobileNetV2", {"alpha": 0.35}, "tanh"),
    "mobilenetv3small_1.0": ("MobileNetV3Small", {}, "raw"),
}


def zoo_entries(zoo_dir: Path) -> dict[str, dict]:
    data = json.loads((zoo_dir / "zoo.json").read_text())
    return {e["name"]: e for e in data["networks"]}


def network_file(entry: dict, zoo_dir: Path) -> Path:
    return (zoo_dir / entry["file"]).resolve()


def load_network(net: dict, zoo_dir: Path, size: int, bn_images: np.ndarray | None = None):
    """(feature model: uint8-range float RGB [n, S, S, 3] -> c4 tap, tap layer name) for one study network.

    ``net``: {"zoo": zoo name, "random": bool, "seed": int}.  The ONE place the study builds a network
    (zoo.json says how: keras.applications.X(weights=FILE) or keras.saving.load_model(FILE, safe_mode=True))."""
    keras = runtime.keras()
    entry = zoo_entries(zoo_dir)[net["zoo"]]
    random = bool(net.get("random"))
    keras.utils.set_random_seed(int(net.get("seed", 0)))
    inp = keras.Input((size, size, 3))
    if net["zoo"] in APPLICATIONS:
        ctor, opts, prep = APPLICATIONS[net["zoo"]]
        base = getattr(keras.applications, ctor)(include_top=False, input_shape=(size, size, 3),
                                                 weights=None if random else str(network_file(entry, zoo_dir)), **opts)
        tap = find_stages(base)["c4"]
    else:
        if random:
            raise ValueError(f"{net['zoo']}: no random-init copy (a whole model file)")
        base = keras.saving.load_model(str(network_file(entry, zoo_dir)), safe_mode=True)
        prep = "raw"
        tap = next(v for k, v in entry["stages"].items() if "c4" in k).split()[0]  # "b10_add (end of ...)"
    sub = keras.Model(base.input, base.get_layer(tap).output)
    x = inp / 127.5 - 1.0 if prep == "tanh" else inp
    model = keras.Model(inp, sub(x))
    if random and bn_images is not None:
        estimate_bn(model, bn_images)
    return model, tap


def bn_layers(model) -> list:
    out = []
    for layer in model._flatten_layers() if hasattr(model, "_flatten_layers") else model.layers:
        if type(layer).__name__ == "BatchNormalization":
            out.append(layer)
    return out


def estimate_bn(model, images: np.ndarray) -> None:
    """Set every BN layer's statistics to those of one batch of ``images`` (momentum 0, one pass)."""
    layers = bn_layers(model)
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(np.asarray(images, np.float32), training=True)
    for layer, m in zip(layers, saved):
        layer.momentum = m


def features(model, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Tap features of uint8 images [n, S, S, 3], inference mode."""
    return np.concatenate([np.asarray(model(np.asarray(images[s:s + batch], np.float32), training=False))
                           for s in range(0, len(images), batch)])


def last_stage_variables(model, tap: str) -> list:
    """Trainable variables of the layers after the backbone's last stride-8 output, up to the tap: the stage
    that ends at the tap (strides measured by one forward pass, so models with free input size work too)."""
    keras = runtime.keras()
    inner = model.layers[-1]
    size = model.input_shape[1]
    names = [layer.name for layer in inner.layers]
    spatial = [i for i, layer in enumerate(inner.layers[:names.index(tap) + 1])
               if i > 0 and len(layer.output.shape) == 4]
    probe = keras.Model(inner.input, [inner.layers[i].output for i in spatial])
    outs = probe(np.zeros((1, size, size, 3), np.float32), training=False)
    last8 = max((i for i, o in zip(spatial, outs) if round(size / o.shape[1]) <= 8), default=0)
    return [v for layer in inner.layers[last8 + 1:names.index(tap) + 1] for v in layer.trainable_variables]


def augment(img: np.ndarray, boxes: np.ndarray, valid: tuple[int, int], rng, s: Schedule):
    """One augmented training image and its boxes (input pixels); see the module docstring."""
    size = img.shape[0]
    vh, vw = valid
    img = img.copy()
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    if rng.random() < s.flip:
        img[:vh, :vw] = img[:vh, :vw][:, ::-1]
        b[:, [0, 2]] = vw - b[:, [2, 0]]
    f = math.exp(rng.uniform(math.log(s.scale[0]), math.log(s.scale[1])))
    n = max(1, int(round(size * f)))
    f = n / size
    big = np.asarray(Image.fromarray(img).resize((n, n), Image.Resampling.BILINEAR))
    if n >= size:
        ox, oy = (int(v) for v in rng.integers(0, n - size + 1, 2))
        out = big[oy:oy + size, ox:ox + size]
        shift = np.array([-ox, -oy, -ox, -oy], np.float64)
    else:
        ox, oy = (int(v) for v in rng.integers(0, size - n + 1, 2))
        out = np.empty_like(img)
        out[:] = np.array(PAD_RGB, np.uint8)
        out[oy:oy + n, ox:ox + n] = big
        shift = np.array([ox, oy, ox, oy], np.float64)
    b = b * f + shift
    c = np.clip(b, 0, size)
    area = lambda a: np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    keep = (area(c) >= s.min_kept * area(b)) & ((c[:, 2] - c[:, 0]) >= 2) & ((c[:, 3] - c[:, 1]) >= 2)
    return np.ascontiguousarray(out), c[keep], keep


class FineTuner:
    """One network built and its training step traced ONCE; ``run`` restores the initial weights per fold.

    ``data``: {"images": uint8 [n, S, S, 3], "boxes": [n] input-pixel arrays, "classes": [n], "valid":
    [n] (rows, cols), "n_classes": K, "bn_images": uint8 array}."""

    def __init__(self, net: dict, zoo_dir: Path, data: dict, sched: Schedule, n_train: int,
                 probe: det.ProbeConfig = det.ProbeConfig()):
        keras = runtime.keras()  # TensorFlow set up as bbselect does (its logger quietened)
        t0 = time.perf_counter()
        keras.backend.clear_session()
        self.data, self.sched, self.probe = data, sched, probe
        self.model, self.tap = load_network(net, zoo_dir, data["images"].shape[1], data["bn_images"])
        self.initial = self.model.get_weights()
        self.size, self.k = data["images"].shape[1], data["n_classes"]
        h, w, c = self.model.output_shape[1:]
        self.hw, self.c = (h, w), c
        self.mu, self.sd = tf.Variable(np.zeros(c, np.float32)), tf.Variable(np.ones(c, np.float32))
        self.head = [keras.Variable(a) for a in dethead.init_head(c + 2, self.k, probe.hidden, probe.depth, 0)]
        self.body = (self.model.trainable_variables if sched.trainable == "all"
                     else last_stage_variables(self.model, self.tap))
        self.bs = min(sched.batch_size, n_train)
        steps = sched.epochs * (n_train // self.bs)
        warm = max(1, int(sched.warmup * steps))

        def adam(lr):
            return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                0.0, max(1, steps - warm), warmup_target=lr, warmup_steps=warm))

        self.opt_h, self.opt_b = adam(sched.lr_head), adam(sched.lr_backbone)
        self.opt_h.build(self.head)
        if self.body:
            self.opt_b.build(self.body)
        coords = tf.constant(dethead.coord_channels(1, h, w).copy())
        model, head, body = self.model, self.head, self.body

        def head_input(x):
            z = (model(x, training=False) - self.mu) / self.sd
            return tf.concat([z, tf.broadcast_to(coords, tf.concat([tf.shape(z)[:1], [h, w, 2]], 0))], -1)

        def step(x, heat, sz, off, mask):
            with tf.GradientTape() as tape:
                out = dethead.head_forward(tf, head, head_input(x))
                loss = dethead.head_loss(tf, *out, heat, sz, off, mask)
            grads = tape.gradient(loss, body + head)
            if body:
                self.opt_b.apply_gradients(zip(grads[:len(body)], body))
            self.opt_h.apply_gradients(zip(grads[len(body):], head))
            return loss

        self.step = tf.function(step)
        self.predict = tf.function(lambda x: dethead.head_forward(tf, head, head_input(x)))
        self.build_seconds = time.perf_counter() - t0

    def frozen_features(self) -> np.ndarray:
        """The initial network's tap features of every image (what the frozen probe and cheap scores see)."""
        self.model.set_weights(self.initial)
        return features(self.model, self.data["images"])

    def run(self, train: np.ndarray, test: np.ndarray, seed: int) -> tuple[list, float]:
        """Fine-tune from the initial weights on ``train`` (indices); detections of ``test``; seconds."""
        t0 = time.perf_counter()
        d, sched = self.data, self.sched
        self.model.set_weights(self.initial)
        mu, sd = dethead.channel_stats(features(self.model, d["images"][train]))
        self.mu.assign(mu.astype(np.float32))
        self.sd.assign(sd.astype(np.float32))
        for v, a in zip(self.head, dethead.init_head(self.c + 2, self.k, self.probe.hidden, self.probe.depth, seed)):
            v.assign(a)
        for opt in (self.opt_h, self.opt_b):
            for v in opt.variables:
                v.assign(np.zeros(v.shape, v.dtype))
        rng = np.random.default_rng(seed)
        for _ in range(sched.epochs):
            perm = rng.permutation(train)
            for s in range(0, len(perm) - self.bs + 1, self.bs):
                xs, bx, cl = [], [], []
                for i in perm[s:s + self.bs]:
                    a, b, keep = augment(d["images"][i], d["boxes"][i], d["valid"][i], rng, sched)
                    xs.append(a)
                    bx.append(b)
                    cl.append(np.asarray(d["classes"][i]).ravel()[keep])
                targets = det.encode_targets(bx, cl, self.k, self.hw, self.size)
                self.step(tf.constant(np.stack(xs).astype(np.float32)), *(tf.constant(t) for t in targets))
        dets = []
        for s in range(0, len(test), 32):
            x = tf.constant(d["images"][test[s:s + 32]].astype(np.float32))
            logits, size_p, off_p = (np.asarray(a) for a in self.predict(x))
            dets += det.decode(logits, size_p, off_p, self.size, self.probe.top_k, self.probe.min_score)
        return dets, time.perf_counter() - t0


__all__ = ["APPLICATIONS", "zoo_entries", "network_file", "load_network", "bn_layers", "estimate_bn", "features",
           "last_stage_variables", "augment", "FineTuner"]
