"""The networks: the byte-level mLSTM (OpenAI's parameterisation) and the fixtures' planted
one, the word-level LSTM classifier, and the NER taggers with their CRF."""
