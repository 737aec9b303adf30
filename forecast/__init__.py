"""forecast: stock price forecasts from CSV files with recurrent networks."""

__version__ = "0.1.0"
