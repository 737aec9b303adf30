"""Tests of forecast/data/, one module per module of the package."""
