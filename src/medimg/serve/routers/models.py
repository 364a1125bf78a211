"""``GET /v1/models``: the model this server runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from medimg.serve.auth import require_token
from medimg.serve.dependencies import get_service
from medimg.serve.service import PredictionService

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(require_token)])

#: the fields of a run's ``metadata.json`` ``training`` that the API shows: counts, times, epochs and the settings
#: chosen on validation. Anything else -- ``skipped_files``, ``excluded_files`` (training paths, whose folder
#: names often carry patient names or MRNs), ``teacher``, ``synthetic_source``, ``semi_supervised`` (its pool's
#: path) and any field added later -- stays in the run folder.
PUBLIC_TRAINING_FIELDS = frozenset(
    {
        "best_epoch",
        "epochs_run",
        "epochs_scheduled",
        "stopped_early",
        "train_time_s",
        "total_time_s",
        "ensemble",
        "processes",
        "device",
        "train_data_device",
        "train_images",
        "val_images",
        "train_cases",
        "val_cases",
        "train_boxes",
        "unlabelled_images",
        "synthetic_images",
        "logit_adjustment",
        "binary_thresholds",
        "finding_thresholds",
        "decoding",
        "postprocessing_scores",
        "feature_extraction_s",
        "search_time_s",
        "best_params",
        "n_features",
        "nonfinite_values_imputed_train",
    }
)
#: prefixes of the metric fields (``best_val_auc_bacc``; a classical model's ``cv_*`` and ``val_*`` scores)
PUBLIC_TRAINING_PREFIXES = ("best_val_", "cv_", "val_")


def public_training(training: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``training`` an API client is shown (:data:`PUBLIC_TRAINING_FIELDS`): none names a file."""
    return {
        key: value
        for key, value in training.items()
        if key in PUBLIC_TRAINING_FIELDS or key.startswith(PUBLIC_TRAINING_PREFIXES)
    }


@router.get("/models", summary="The served model(s): labels, input spec, explanation method")
def list_models(service: PredictionService = Depends(get_service)) -> dict[str, Any]:
    info = service.info.to_dict()
    info["training"] = public_training(service.info.training)
    return {"models": [info]}
