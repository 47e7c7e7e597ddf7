"""Preparing series for the network: scaling fitted on the training part, calendar and covariate channels, and
windows as views."""
