"""Training loops: the byte-level mLSTM language model (``lm``) and its model card (``card``)."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite (or exploded): the run cannot be scored or continued."""
