"""advisor: recommend, carry out and verify a quantization scheme for a TensorFlow model on an edge device.

    import advisor
    rec = advisor.recommend({"data": "none", "hardware": "gpu"})
    rec.scheme, rec.fallbacks, rec.rationale
    report = advisor.run(answers, model=keras_model, representative=x, eval=(x_eval, y_eval), out="out")

Importing this package, and recommending, never imports TensorFlow; running a scheme does.
"""

from advisor.api import recommend, run
from advisor.errors import AdvisorError, BadInput
from advisor.models.answers import Answers, Goals, Inputs
from advisor.models.recommendation import Recommendation

__all__ = ["recommend", "run", "Answers", "Goals", "Inputs", "Recommendation", "AdvisorError", "BadInput"]
__version__ = "0.1.0"
