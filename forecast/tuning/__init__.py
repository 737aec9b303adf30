"""``forecast tune``: hyperparameter search over training, on an Optuna study.

``space`` (what is searched, checked against ``config.OPTION_BOUNDS``), ``study`` (the
shared storage, resuming, claiming trials) and ``search`` (``search.tune()``, the tune
command's body: trials, the retrain of the best configuration, the model directory). How a
search works is told in ``search``'s docstring.
"""
