"""Exchange-data importers: Binance JSON-lines recordings, Tardis-style CSVs and LOBSTER
message/orderbook pairs into ``ticks.parquet`` and ``bars.parquet`` (docs/data.md,
"Importing exchange data"). :func:`quantjax.data.importers.pipeline.run_import` runs one.
"""
