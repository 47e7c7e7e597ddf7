"""The network (model: LSTM/GRU/RNN -> last step -> Linear) and the explicit gate equations (gates)."""
