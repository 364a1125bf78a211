"""``GET /v1/models``: the model this server runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from medimg.serve.auth import require_token
from medimg.serve.dependencies import get_service
from medimg.serve.service import PredictionService

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(require_token)])


@router.get("/models", summary="The served model(s): labels, input spec, explanation method")
def list_models(service: PredictionService = Depends(get_service)) -> dict[str, Any]:
    return {"models": [service.info.to_dict()]}
