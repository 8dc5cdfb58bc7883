"""Proof that a scheme took effect, read back from the .tflite it produced: the weight bytes by dtype
(`weights_by_dtype` in report.json), and whether the scheme's weights are in its types and its size
near its prediction. A file the quantizer left as it was fails here, whatever its measurements say.
"""

from __future__ import annotations

from advisor.reading.tflite import constants

LARGE = 1024  # weight tensors of at least this many values: every scheme that quantizes weights quantizes these
FLOATS = ("float32", "float16", "float64")


def weights_by_dtype(content: bytes) -> dict[str, int]:
    """Bytes of the constant tensors stored in the file, by dtype (biases and shape constants included)."""
    census: dict[str, int] = {}
    for tensor in constants(content):
        census[tensor.dtype] = census.get(tensor.dtype, 0) + tensor.nbytes
    return dict(sorted(census.items(), key=lambda item: -item[1]))


def effect_problem(effect, content: bytes, *, scheme: str, who: str, predicted: int | None) -> str | None:
    """Why the file shows that `scheme` did not take effect (its rules' `effect` entry), or None."""
    if effect is None:
        return None
    large = [t for t in constants(content) if t.elements >= LARGE and t.dtype not in ("int32", "int64")]
    total = sum(t.nbytes for t in large)
    if total:
        left = sum(t.nbytes for t in large if t.dtype in FLOATS and t.dtype not in effect.weight_dtypes)
        share = left / total
        if share > effect.max_float_share + 1e-9:
            kinds = "/".join(sorted({t.dtype for t in large if t.dtype in FLOATS and t.dtype not in effect.weight_dtypes}))
            return (f"{who} left {share:.0%} of the weight bytes in {kinds} (at most {effect.max_float_share:.0%} may stay "
                    f"{kinds} in {scheme}, whose weights are {'/'.join(effect.weight_dtypes)}): {scheme} did not take effect")
    size = len(content)
    if predicted and effect.max_over_prediction is not None and size > predicted * (1 + effect.max_over_prediction):
        return (f"{who} wrote {size:,} B where about {predicted:,} B were predicted ({size / predicted:.1f}x, more than "
                f"{effect.max_over_prediction:.0%} over): {scheme} did not take effect as it should")
    return None
