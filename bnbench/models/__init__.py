"""The networks of the study, behind one registry: ``create_model("VGG_A_BatchNorm")``.

Every model has an ``outputs`` attribute: "log_probs" (ends in log_softmax; pair with
nll_loss) or "logits" (pair with CrossEntropyLoss).
"""
from .registry import (INIT_SCHEMES, count_parameters, create_model, init_weights,  # noqa: F401
                       list_models, register_model)
from .structure import format_structure, structure_table  # noqa: F401

# Imported for their @register_model side effect.
from . import mynet, resnet, vgg  # noqa: E402,F401

__all__ = ["INIT_SCHEMES", "count_parameters", "create_model", "format_structure", "init_weights",
           "list_models", "register_model", "structure_table"]
