"""The default space for compact CNNs: optimisation, regularisation and augmentation."""

from __future__ import annotations

from spaces._params import Bool, Categorical, Float, Int, When
from spaces._registry import register_space
from spaces._space import SearchSpace

#: Learning-rate schedules a space may choose from; ``search.schedules`` builds them.
SCHEDULES = ("none", "step", "exponential", "polynomial", "cosine")


@register_space("default")
def default_space() -> SearchSpace:
    """Learning rate and its decay, optimizer, dropout, batch norm, width, augmentation, batch size."""
    return SearchSpace(
        "default",
        (
            Float("learning_rate", 1e-4, 3e-1, log=True, help="initial learning rate"),
            Categorical("optimizer", ("sgd", "adam"), help="SGD with momentum, or Adam"),
            Float("momentum", 0.5, 0.99, when=When("optimizer", ("sgd",)), help="SGD momentum"),
            Bool("nesterov", when=When("optimizer", ("sgd",)), help="Nesterov momentum"),
            Categorical("lr_schedule", SCHEDULES, help="learning-rate decay over the epochs"),
            Float("step_factor", 0.1, 0.75, when=When("lr_schedule", ("step",)),
                  help="step decay: multiply the rate by this ..."),
            Int("step_epochs", 2, 10, when=When("lr_schedule", ("step",)),
                help="... every this many epochs"),
            Float("exp_decay", 0.7, 0.99, when=When("lr_schedule", ("exponential",)),
                  help="exponential decay: rate multiplier per epoch"),
            Float("poly_power", 0.5, 3.0, when=When("lr_schedule", ("polynomial",)),
                  help="polynomial decay to zero over the epochs: its power"),
            Float("cosine_floor", 0.0, 0.2, when=When("lr_schedule", ("cosine",)),
                  help="cosine decay: final rate as a fraction of the initial one"),
            Float("dropout", 0.0, 0.6, help="dropout rate"),
            Bool("batch_norm", help="batch normalisation after each convolution and dense layer"),
            Categorical("width", (0.5, 1.0, 2.0), help="multiplier of filters and units"),
            Float("augment", 0.0, 1.0, help="augmentation strength: 0 none, 1 the book's recipe"),
            Categorical("batch_size", (32, 64, 128), help="mini-batch size"),
        ),
    )
