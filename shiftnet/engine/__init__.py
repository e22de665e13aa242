"""Engine: the training loop (train.py), evaluation (evaluate.py) and DDP plumbing (distributed.py)."""
