"""The risk rules, one module each; :data:`quantjax.risk.engine.CHAIN` runs them in order.

- :mod:`~quantjax.risk.rules.limits`: the day roll (first), the order-size and exposure
  limits applied when ``fill`` sizes an order, and the loss limits (breaker, daily halt).
- :mod:`~quantjax.risk.rules.fill`: fill the pending order (prices, slippage, fees, volume cap).
- :mod:`~quantjax.risk.rules.stops`: stop-loss, take-profit and trailing stop exits.
- :mod:`~quantjax.risk.rules.mark`: mark to market at the close.
- :mod:`~quantjax.risk.rules.decide`: the signal (or a halt) becomes the pending order.
"""
