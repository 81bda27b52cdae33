"""What the fine-tuning study measures: its networks, folds, fine-tuning schedules and predictors.

The predictors are named by the score registry (``bbselect.scoring.registry``) where they are
registered scores: the frozen detection probe is ``det_map50`` / ``det_map``, the cheap box scores are
``roi_logme``, ``tlogme``, ``objectness``, ``objectness_gain``.  The others are not scores a bbselect run
computes and are named once here (``NOT_SCORES``): the publisher's ImageNet top-1 and two fine-tuning
proxies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SIZE = 224
SEED = 0
BN_IMAGES = 64  # images used to estimate a random-init copy's batch-norm statistics
# (key, zoo name, random init?)
NETWORKS = [
    ("mobilenet_v1_0.25", "mobilenet_v1_0.25", False),
    ("mobilenetv2_1.0", "mobilenetv2_1.0", False),
    ("mobilenetv2_0.35", "mobilenetv2_0.35", False),
    ("mobilenetv3small_1.0", "mobilenetv3small_1.0", False),
    ("efficientnet_lite0", "efficientnet_lite0", False),
    ("squeezenet_v1_1", "squeezenet_v1_1", False),
    ("mobilenet_v1_0.25 (random)", "mobilenet_v1_0.25", True),
    ("mobilenetv2_0.35 (random)", "mobilenetv2_0.35", True),
]
QUICK_NETWORKS = ["mobilenet_v1_0.25", "mobilenet_v1_0.25 (random)"]
# Full study: 3 folds (not the probe's default 5) and 15 / 5 epochs, to fit 60 min on 2 shared cores.
FOLDS, LONG, SHORT, PROXY = 3, 15, 5, 5
QUICK = (2, 1, 1, 1)  # --quick: folds, long, short, proxy epochs
PHASES = ("short", "long", "proxy")  # the fine-tuning schedules ("frozen" is the probe and the cheap scores)
TOP1_RANDOM = 0.1  # % : a random-init network's ImageNet top-1 is chance (1 of 1000)
# predictor key -> heading in the study's tables, in the tables' order
PREDICTORS = [
    ("det_map50", "frozen detection probe mAP@0.5 (bbselect)"),
    ("det_map", "frozen detection probe mAP@[.5:.95]"),
    ("roi_logme", "ROI-LogME"),
    ("tlogme", "TLogME"),
    ("objectness", "objectness-probe AUROC"),
    ("objectness_gain", "objectness gain over position prior"),
    ("top1", "ImageNet top-1 (publisher)"),
    ("short_map50", "short (5-epoch) full fine-tune mAP@0.5 (a third of the long cost)"),
    ("proxy_map50", "last-stage-only short fine-tune mAP@0.5 (proxy)"),
]
NOT_SCORES = ("top1", "short_map50", "proxy_map50")  # predictors that are not registered scores
PROBE = "det_map50"  # the predictor whose support the study decides
FINE_TUNED = ("short_map50", "proxy_map50")  # predictors that fine-tune (not frozen-feature predictors)


@dataclass(frozen=True)
class Schedule:
    """One fine-tuning schedule (``train``'s module docstring says what each field does)."""
    epochs: int = 12
    batch_size: int = 16
    lr_head: float = 2e-3
    lr_backbone: float = 2e-4
    warmup: float = 0.1  # share of the steps
    flip: float = 0.5
    scale: tuple[float, float] = (0.75, 1.25)
    min_kept: float = 0.3  # share of a box's area that must stay inside a crop
    trainable: str = "all"  # "all" | "last" (the backbone's last stage before the tap)

    def describe(self) -> str:
        return (f"{self.epochs} epochs, batch {self.batch_size}, Adam (head lr {self.lr_head:g}, backbone lr "
                f"{self.lr_backbone:g}; {self.warmup:.0%} linear warm-up, cosine decay to 0), h-flip p {self.flip}, "
                f"scale {self.scale[0]}–{self.scale[1]} (log-uniform, random crop/paste), BN frozen "
                f"(inference mode, scale/offset trained), backbone trainable: {self.trainable}")


def schedule_dict(s: Schedule) -> dict:
    """A schedule as the cache stores it."""
    return {**asdict(s), "scale": list(s.scale)}


def schedule_from_dict(d: dict) -> Schedule:
    return Schedule(**{**d, "scale": tuple(d["scale"])})


def schedules(quick: bool) -> dict[str, Schedule]:
    """The schedule of each fine-tuning phase."""
    _, long_e, short_e, proxy_e = QUICK if quick else (FOLDS, LONG, SHORT, PROXY)
    return {"long": Schedule(epochs=long_e), "short": Schedule(epochs=short_e),
            "proxy": Schedule(epochs=proxy_e, trainable="last")}


def folds(quick: bool) -> int:
    return QUICK[0] if quick else FOLDS


def network_keys(quick: bool, subset: str | None = None) -> list[str]:
    """The networks to measure and report, in the study's order (``subset``: comma-separated keys)."""
    keys = QUICK_NETWORKS if quick else [k for k, _, _ in NETWORKS]
    return [k for k in keys if k in subset.split(",")] if subset else list(keys)


def network(key: str) -> dict:
    """How ``train.load_network`` builds one study network: {"zoo", "random", "seed"}."""
    _, zname, rnd = next(n for n in NETWORKS if n[0] == key)
    return {"zoo": zname, "random": rnd, "seed": SEED}


def meta(quick: bool) -> dict:
    """What the cache records about the run (a cache with other folds, seed or size is started afresh)."""
    return {"folds": folds(quick), "seed": SEED, "size": SIZE, "quick": quick,
            "schedules": {k: schedule_dict(s) for k, s in schedules(quick).items()}}
