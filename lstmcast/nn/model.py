"""The network only: a recurrent encoder over the window, its final step, a Linear head for all horizon steps."""

from __future__ import annotations

import torch
from torch import nn

from lstmcast.config import ModelConfig

AHEAD_WIDTH = 16  # hidden units of the per-step network for known-ahead covariates
_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class LSTMRegressor(nn.Module):
    """(B, L, F) window (and (B, H, K) known future features) -> (B, H) forecast.

    With `bidirectional`, the head sees the forward direction's output at the last step and the backward
    direction's output at the first step: the backward pass has read the whole window by then. Of the K known
    future channels, the first `ahead` are future covariates: with them, every step's known channels also pass
    through `ahead_net`, shared by the steps, and add to that step's output.
    """

    def __init__(self, cfg: ModelConfig, input_size: int, horizon: int, future_size: int = 0, ahead: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_size = input_size
        self.horizon = horizon
        self.future_size = future_size
        self.ahead = ahead  # the first `ahead` of the future_size known channels are known-ahead covariates
        kwargs: dict = {
            "input_size": input_size,
            "hidden_size": cfg.hidden_size,
            "num_layers": cfg.num_layers,
            "dropout": cfg.dropout if cfg.num_layers > 1 else 0.0,
            "bidirectional": cfg.bidirectional,
            "batch_first": True,
        }
        if cfg.cell == "lstm":
            kwargs["proj_size"] = cfg.proj_size
        self.rnn = _CELLS[cfg.cell](**kwargs)
        self.out_size = cfg.proj_size or cfg.hidden_size
        directions = 2 if cfg.bidirectional else 1
        # The head also reads the calendar of the horizon steps, so the direct multi-step output knows which hours
        # or weekdays it is forecasting.
        self.head = nn.Linear(directions * self.out_size + horizon * (future_size - ahead), horizon)
        # Known-ahead covariates (with that step's calendar) go through one small network shared by every horizon
        # step, added to that step's output: a few dozen weights, not H x K per step, so a year of daily data can
        # learn a non-linear effect (temperature on demand) instead of overfitting a flattened H x K input.
        self.ahead_net = (
            nn.Sequential(nn.Linear(future_size, AHEAD_WIDTH), nn.Tanh(), nn.Linear(AHEAD_WIDTH, 1)) if ahead else None
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: x (B, L, F) -> (B, D * P), P = proj_size or hidden_size, D = 1 or 2 directions."""
        out, _ = self.rnn(x)  # (B, L, F) -> (B, L, D * P)
        last = out[:, -1, : self.out_size]  # (B, P) forward direction, last step
        if not self.cfg.bidirectional:
            return last
        first = out[:, 0, self.out_size :]  # (B, P) backward direction, after reading the whole window
        return torch.cat([last, first], dim=1)  # (B, 2P)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """Shapes: x (B, L, F), future (B, H, K) or None -> (B, H)."""
        z = self.encode(x)  # (B, D * P)
        if self.future_size:
            if future is None:
                raise ValueError("this model needs the known future features of the horizon steps")
            calendar = future[:, :, self.ahead :]  # (B, H, K - ahead)
            z = torch.cat([z, calendar.flatten(1)], dim=1)  # (B, D * P + H * (K - ahead))
            if self.ahead_net is not None:
                return self.head(z) + self.ahead_net(future).squeeze(-1)  # (B, H) + (B, H, K) -> (B, H)
        return self.head(z)  # (B, H)
