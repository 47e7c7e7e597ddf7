"""A trained model's forecasts: batched inference in original units (forecast) and conformal prediction intervals
(intervals)."""
