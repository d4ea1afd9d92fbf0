"""Training jobs: the classifier (section 3.1), the box regressor on a frozen trunk (4.2) and
the detector with a background class (5), driven by config files (``configs/*.py``).

``overfeat.train.loop.train(config, workdir)`` runs one; ``overfeat train --config ...`` is
its command line.
"""
