"""The entry points a user calls (train, predict, evaluate, backtest, inspect, export), run directories and the
files a run writes."""
