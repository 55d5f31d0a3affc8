"""Repository-wide pytest setup. The bnbench plugin itself is loaded through its pytest11 entry point."""
import os

from hypothesis import settings

# Property tests train nothing heavy, but a 2-core CI machine can stall a single example: no deadline there.
settings.register_profile("bnbench", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bnbench"))
