"""Scoring forecasts: the error metrics, prediction intervals, the test part's scoring, and the baselines' forecasts."""
