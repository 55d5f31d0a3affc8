"""The engine: data, models, the trainer, CUDA graphs, the probes and timing. It turns a ``TrainConfig`` into a
``RunRecord`` and knows nothing about the study, the verdicts, the store or pytest (tests/test_layout.py holds it
to that)."""
