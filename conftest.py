"""Repository-wide pytest setup. The bnbench plugin itself is loaded through its pytest11 entry point."""
import os

# bnbench's own tests and benchmarks are about bnbench's study: installed studies (e.g. examples/noisy-bn, whose own
# tests run from its folder) stay out of them, whatever this machine has installed. An explicit value is kept.
os.environ.setdefault("BNBENCH_STUDIES", "")

try:
    from hypothesis import settings
except ImportError:   # `pip install -e .` (no test extra) runs the benchmarks, which use no hypothesis
    pass
else:
    # Property tests train nothing heavy, but a 2-core CI machine can stall a single example: no deadline there.
    settings.register_profile("bnbench", deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bnbench"))
