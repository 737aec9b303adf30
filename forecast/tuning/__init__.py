"""Hyperparameter search over training, on an Optuna study.

Every trial trains one configuration with ``run_training(..., score=False)``: nothing is
forecast after fitting, so the test rows are never looked at. Its score is the lowest
validation loss of its epochs, the figure train itself uses to choose the epoch (the
pinball loss for a quantile model, else the point loss). A Keras callback reports that
figure after every epoch so a median pruner can stop unpromising trials early.

The study lives in a storage that several processes share: by default a journal file
beside the model directory (``<model-dir>.study/journal.log``, append-only, safe for
several processes of one machine), or any database URL Optuna supports (``--storage``,
e.g. one PostgreSQL server for workers on several machines). A second search with the same
study resumes it. Workers claim trials one at a time until the study holds ``--trials``
of them, so the total is exact with the journal (whose claims are under a file lock); with
a database URL two workers claiming at the same instant may overshoot by one.

Only the searched options vary; the study records the data's hash, the fixed options and
the space, and refuses to be resumed with different ones.
"""
