"""The risk rules, one module each; :data:`quantjax.risk.engine.CHAIN` runs them in order.

- :mod:`~quantjax.risk.rules.limits`: the day roll (first), the order-size and exposure
  limits applied when ``fill`` sizes an order, and the loss limits (breaker, daily halt).
- :mod:`~quantjax.risk.rules.carry`: borrow cost and funding on the held position.
- :mod:`~quantjax.risk.rules.latency`: decisions in flight until they reach the market.
- :mod:`~quantjax.risk.rules.fill`: fill the arrived market order (prices, slippage, impact,
  fees, volume cap).
- :mod:`~quantjax.risk.rules.limit`: working limit orders (trade-through or queue, expiry).
- :mod:`~quantjax.risk.rules.stops`: stop-loss, take-profit and trailing stop exits.
- :mod:`~quantjax.risk.rules.impact`: the causal estimates of the square-root impact.
- :mod:`~quantjax.risk.rules.mark`: mark to market at the close.
- :mod:`~quantjax.risk.rules.decide`: the signal (or a halt) becomes the pending order.
"""
