"""Verdicts: pure functions of run records. ``metrics`` (what a claim measures, and how it reads, shows and checks
it), ``stats`` (the decision rule and its error rates), ``evaluate`` (a claim's result from its runs). Torch-free;
reads nothing from disk."""
