"""PyTorch re-implementation of the spec's ``MultiModalCreditTransformer`` (benchmark reference).

Follows the spec's code (nn.TransformerEncoder with its default post-LN layers, ReLU FFN,
fusion MLP, 2-way softmax head) with two fixes needed for it to run at the spec's own
defaults: the categorical embedding widths are split unevenly so they sum to d_model
(256 // 3 * 3 = 255 makes the spec's ``.view(batch, 1, d_model)`` fail), and the time series
is taken as [B, T] (the spec's ``Linear(time_series_length, d_model)``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _widths(d_model: int, n: int) -> list[int]:
    base, extra = divmod(d_model, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


class MultiModalCreditTransformer(nn.Module):
    def __init__(self, numerical_dim=50, categorical_dims=(10, 20, 15), text_vocab_size=10000,
                 time_series_length=12, d_model=256, n_heads=8, n_layers=6, dropout=0.1):
        super().__init__()
        self.d_model = d_model
        self.numerical_embedding = nn.Linear(numerical_dim, d_model)
        self.categorical_embeddings = nn.ModuleList(
            [nn.Embedding(dim, w) for dim, w in zip(categorical_dims,
                                                    _widths(d_model, len(categorical_dims)),
                                                    strict=True)])
        self.text_embedding = nn.Embedding(text_vocab_size, d_model)
        self.time_series_embedding = nn.Linear(time_series_length, d_model)
        self.register_buffer("positional_encoding", self._pe(1000, d_model))
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=n_heads,
                                           dim_feedforward=d_model * 4, dropout=dropout,
                                           batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=n_layers,
                                                         enable_nested_tensor=False)
        self.fusion_layer = nn.Sequential(
            nn.Linear(d_model * 4, d_model * 2), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(d_model * 2, d_model), nn.ReLU())
        self.classifier = nn.Sequential(
            nn.Linear(d_model, d_model // 2), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(d_model // 2, d_model // 4), nn.ReLU(), nn.Linear(d_model // 4, 2))

    @staticmethod
    def _pe(max_len: int, d_model: int) -> torch.Tensor:
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1).float()
        div = torch.exp(torch.arange(0, d_model, 2).float() * -(np.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
        return pe.unsqueeze(0)

    def forward(self, numerical, categorical, text, time_series):
        b = numerical.size(0)
        num = self.numerical_embedding(numerical).unsqueeze(1)
        cat = torch.cat([emb(categorical[:, i]) for i, emb in
                         enumerate(self.categorical_embeddings)], dim=-1).view(b, 1, self.d_model)
        txt = self.text_embedding(text)
        ts = self.time_series_embedding(time_series).unsqueeze(1)
        txt = txt + self.positional_encoding[:, : txt.size(1), :]
        x = self.transformer_encoder(torch.cat([num, cat, ts, txt], dim=1))
        fused = torch.cat([x[:, 0], x[:, 1], x[:, 2], x[:, 3:].mean(dim=1)], dim=-1)
        logits = self.classifier(self.fusion_layer(fused))
        return torch.softmax(logits, dim=-1)[:, 1]


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


__all__ = ["MultiModalCreditTransformer", "count_params", "math"]
