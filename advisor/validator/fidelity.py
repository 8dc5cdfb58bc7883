"""How far a quantized model's outputs are from the float32 model's, per output, without labels:
SQNR in dB, cosine similarity, largest absolute error and, for class scores, top-1 agreement
(the measures LiteRT Quantizer's validation and NNCF use)."""

from __future__ import annotations

import math

import numpy as np

from advisor.models.report import Fidelity, OutputFidelity

SQNR_CAP_DB = 200.0  # identical outputs have infinite SQNR; JSON has no infinity


def output_fidelity(reference: np.ndarray, candidate: np.ndarray, class_scores: bool) -> OutputFidelity:
    """`class_scores`: the last axis holds scores, so the top-1 along it (per input, or per position
    of a sequence or image output) can agree or change."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = candidate.reshape(len(candidate), -1).astype(np.float64)
    noise = float(((ref - got) ** 2).sum())
    signal = float((ref ** 2).sum())
    if noise == 0:
        sqnr = SQNR_CAP_DB
    elif signal == 0:
        sqnr = -SQNR_CAP_DB
    else:
        sqnr = max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10 * math.log10(signal / noise)))
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    valid = norms > 0
    cosine = float(((ref * got).sum(axis=1)[valid] / norms[valid]).mean()) if valid.any() else None
    agreement = None
    if class_scores:
        classes = reference.shape[-1]
        per_position = reference.reshape(-1, classes).argmax(axis=1) == candidate.reshape(-1, classes).argmax(axis=1)
        agreement = float(per_position.mean())
    return OutputFidelity(
        sqnr_db=round(sqnr, 3),
        cosine=round(cosine, 6) if cosine is not None else None,
        max_abs_error=round(float(np.abs(ref - got).max()), 6),
        top1_agreement=round(agreement, 6) if agreement is not None else None,
    )


def fidelity(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], signature, *, inputs: str,
             calibration_data: bool) -> Fidelity:
    return Fidelity(
        inputs=inputs,
        calibration_data=calibration_data,
        outputs={spec.name: output_fidelity(reference[spec.name], candidate[spec.name], spec.scores_last_axis)
                 for spec in signature.outputs},
    )
