"""Load the HFT dataset of a run: a market file or the synthetic generator -> ``HFTDataset``.

Used by ``quantjax train hft``, the sweeps, the HFT report and :mod:`quantjax.train.predict`.
Heavy imports stay inside the functions so importing this module is cheap.
"""

from __future__ import annotations

__all__ = ["bayes_from_meta", "features_config", "load_hft_dataset", "load_hft_market"]


def bayes_from_meta(meta: dict, horizon: int, threshold: float) -> float | None:
    """The generator's oracle accuracy, only if its labels are the ones we train on."""
    if meta.get("label_horizon") == horizon and meta.get("label_threshold") == threshold:
        return meta.get("oracle_accuracy")
    return None


def features_config(cfg):
    """The :class:`~quantjax.features.config.FeaturesConfig` of an HFTConfig's ``data.features``."""
    from quantjax.config import from_dict
    from quantjax.features.config import FeaturesConfig

    return from_dict(FeaturesConfig, cfg.data.features, prefix="data.features.")


def load_hft_market(cfg, data_path: str | None):
    """``(MarketArrays, info)`` from a market file or the synthetic generator (``None``).

    ``info``: ``source`` ("synthetic" or the path) and ``bayes_accuracy`` (the generator's
    oracle accuracy when the labels match, else None).
    """
    import json

    h, thr = cfg.data.prediction_horizon, cfg.data.direction_threshold
    info: dict = {}
    if data_path is None:
        from quantjax.config.data import SynthMarketConfig
        from quantjax.data.market_io import market_from_frame
        from quantjax.data.synth_market import generate

        sc = cfg.data.synthetic
        df, meta = generate(SynthMarketConfig(symbols=sc.symbols, steps=sc.steps, seed=sc.seed,
                                              label_horizon=h, label_threshold=thr))
        market, _ = market_from_frame(df, name="<synthetic>")
        info.update(source="synthetic", bayes_accuracy=meta["oracle_accuracy"],
                    generator_majority_accuracy=meta.get("majority_class_accuracy"))
    else:
        from quantjax.data.market_io import load_market
        from quantjax.data.synth_market import meta_path

        market, _ = load_market(data_path)
        info.update(source=str(data_path), bayes_accuracy=None)
        mp = meta_path(data_path)
        if mp.is_file():
            info["bayes_accuracy"] = bayes_from_meta(json.loads(mp.read_text()), h, thr)
    return market, info


def load_hft_dataset(cfg, data_path: str | None, log=print):
    """``(HFTDataset, info)`` from ``--data PATH`` or the synthetic generator (``None``)."""
    from quantjax.features.dataset import build_hft_dataset

    market, info = load_hft_market(cfg, data_path)
    log(f"building features: {market.n_symbols} symbols x {market.n_steps} bars, "
        f"fields {', '.join(market.fields)}")
    ds = build_hft_dataset(market, features_config(cfg), cfg.model.sequence_length,
                           cfg.data.prediction_horizon, cfg.data.direction_threshold,
                           split=tuple(cfg.data.split))
    info.update(n_symbols=market.n_symbols, n_steps=market.n_steps,
                n_features=int(ds.features.shape[-1]))
    return ds, info
