"""Training loops: the byte-level mLSTM language model (``lm``) and its model card (``card``),
the word-level LSTM classifier (``classifier``) and the NER taggers (``tagger``); the cache
entries they write follow one plan (:mod:`neuron_repro.cache`)."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite (or exploded): the run cannot be scored or continued."""
