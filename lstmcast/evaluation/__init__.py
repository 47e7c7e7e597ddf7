"""Scoring forecasts: metrics and baselines, validation of a trained model, rolling-origin backtests."""
