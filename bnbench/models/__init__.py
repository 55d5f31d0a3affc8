"""The networks of the study, behind one registry: ``create_model("VGG_A_BatchNorm")``.

``model_info(name)`` gives each model's registered metadata (a ``ModelInfo``): ``outputs``
("log_probs": ends in log_softmax, pair with nll_loss; "logits": pair with CrossEntropyLoss), the
study's batch size and the report section. The registry is the source; the models' ``outputs``
class attribute remains for compatibility and agrees with it.
"""
from .registry import (INIT_SCHEMES, ModelInfo, count_parameters, create_model, init_weights,  # noqa: F401
                       list_models, model_info, register_model)
from .structure import format_structure, structure_table  # noqa: F401

# Imported for their @register_model side effect.
from . import mynet, resnet, vgg  # noqa: E402,F401

__all__ = ["INIT_SCHEMES", "ModelInfo", "count_parameters", "create_model", "format_structure", "init_weights",
           "list_models", "model_info", "register_model", "structure_table"]
