"""Models-from-code entry point: MLflow runs this file to build the registered model."""

from mlflow.models import set_model

from downside.tracking._pyfunc import DownsideModel

set_model(DownsideModel())
