"""PyTorch re-implementation of the spec's LSTMAttentionModel (the benchmark reference).

Faithful to the spec: nn.LSTM(bidirectional, batch_first, dropout between layers), the
spec's AttentionMechanism (Q/K/V/output Linear, softmax, dropout 0.1 on probs, computed for
every position), LayerNorm, last time step, three Linear-ReLU-Dropout-Linear heads,
Xavier-uniform Linear init and orthogonal/normal LSTM init. Bench extra only (needs torch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AttentionMechanism(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int = 8):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(0.1)

    def forward(self, h):
        b, L, E = h.size()

        def split(x):
            return x.view(b, L, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).contiguous().view(b, L, E)
        return self.output(ctx), probs


class LSTMAttentionModel(nn.Module):
    def __init__(self, input_size: int, hidden_size=128, num_layers=3, dropout=0.2, heads=8):
        super().__init__()
        H = hidden_size
        self.feature_embedding = nn.Linear(input_size, H)
        self.lstm = nn.LSTM(H, H, num_layers=num_layers, bidirectional=True, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0)
        self.attention = AttentionMechanism(2 * H, heads)
        self.layer_norm = nn.LayerNorm(2 * H)

        def head(n):
            return nn.Sequential(nn.Linear(2 * H, H), nn.ReLU(), nn.Dropout(dropout), nn.Linear(H, n))

        self.price_predictor, self.direction_predictor = head(1), head(3)
        self.volatility_predictor = head(1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            for p in m.parameters():
                (nn.init.orthogonal_ if p.dim() >= 2 else nn.init.normal_)(p.data)

    def forward(self, x):
        out, _ = self.lstm(self.feature_embedding(x))
        att, probs = self.attention(out)
        final = self.layer_norm(att)[:, -1, :]
        return {"price": self.price_predictor(final), "direction": self.direction_predictor(final),
                "volatility": F.softplus(self.volatility_predictor(final)),
                "attention_weights": probs}


def train_step(model, opt, x, y_dir, y_price, y_vol):
    """One AdamW step on the multi-task loss (Huber price, CE direction, log-MSE vol)."""
    model.train()
    opt.zero_grad(set_to_none=True)
    out = model(x)
    loss = (F.huber_loss(out["price"][:, 0], y_price)
            + F.cross_entropy(out["direction"], y_dir)
            + torch.mean((torch.log(out["volatility"][:, 0] + 1e-6) - torch.log(y_vol + 1e-6)) ** 2))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss
