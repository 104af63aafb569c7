"""Spaces for transfer learning: fine-tuning a backbone, and feature extraction."""

from __future__ import annotations

from spaces._params import Categorical, Fixed, Float, Int, When
from spaces._registry import register_space
from spaces._space import SearchSpace


@register_space("backbone")
def backbone_space() -> SearchSpace:
    """How deep to freeze, how long to warm up the head, how gently to fine-tune, the head."""
    return SearchSpace(
        "backbone",
        (
            Float("learning_rate", 1e-4, 1e-2, log=True,
                  help="learning rate of the head (and of the warm-up)"),
            Categorical("optimizer", ("adam", "sgd"), help="Adam, or SGD with momentum"),
            Float("momentum", 0.8, 0.99, when=When("optimizer", ("sgd",)), help="SGD momentum"),
            Categorical("lr_schedule", ("none", "cosine"), help="decay within each phase"),
            Float("cosine_floor", 0.0, 0.2, when=When("lr_schedule", ("cosine",)),
                  help="cosine decay: final rate as a fraction of the initial one"),
            Fixed("freeze_by", "fraction",
                  help='"fraction": freeze is a share of the backbone\'s layers; "count": '
                       "freeze_layers is a number of layers"),
            Float("freeze", 0.0, 1.0, when=When("freeze_by", ("fraction",)),
                  help="share of the backbone's layers frozen, from the input up"),
            Int("freeze_layers", 0, 300, when=When("freeze_by", ("count",)),
                help="backbone layers frozen, from the input up (capped at its depth)"),
            Int("warmup_epochs", 0, 3, help="epochs that train only the head, body frozen"),
            Float("fine_tune_lr_factor", 0.01, 1.0, log=True,
                  help="after the warm-up: learning rate multiplied by this"),
            Categorical("head", ("avg", "flatten"), help="global average pooling, or flatten"),
            Categorical("head_units", (0, 128, 256), help="dense layer of the head (0: none)"),
            Float("dropout", 0.0, 0.5, help="dropout before the softmax"),
            Float("augment", 0.0, 0.5, help="augmentation strength: 0 none, 1 the book's recipe"),
            Categorical("batch_size", (32, 64), help="mini-batch size"),
        ),
    )


@register_space("features")
def features_space() -> SearchSpace:
    """Logistic regression on a frozen backbone's pooled features."""
    return SearchSpace(
        "features",
        (
            Float("C", 1e-4, 1e2, log=True, help="inverse regularisation strength"),
            Categorical("class_weight", ("none", "balanced"),
                        help="balanced: weigh classes inversely to their frequency"),
        ),
    )
