"""How far a quantized model's outputs are from the float32 model's, per output, without labels.

Every output: SQNR in dB, cosine similarity, largest absolute error and relative error (the measures
LiteRT Quantizer's validation and NNCF use). Outputs of kind `scores` also: the share of inputs (or
positions, for sequence and image outputs) whose top-1 along the last axis is float32's, or, for a
single sigmoid or logit, whose decision did not flip. Outputs of kind `values` (boxes, landmarks,
embeddings, regression) have no class to change.
"""

from __future__ import annotations

import math

import numpy as np

from advisor.models.report import Fidelity, OutputFidelity

SQNR_CAP_DB = 200.0  # identical outputs have infinite SQNR; JSON has no infinity


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(((ref - got) ** 2).sum())
    signal = float((ref ** 2).sum())
    if noise == 0:
        return SQNR_CAP_DB
    if signal == 0:
        return -SQNR_CAP_DB
    return max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10 * math.log10(signal / noise)))


def output_fidelity(reference: np.ndarray, candidate: np.ndarray, kind: str | None) -> OutputFidelity:
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = candidate.reshape(len(candidate), -1).astype(np.float64)
    ref_norms, got_norms = np.linalg.norm(ref, axis=1), np.linalg.norm(got, axis=1)
    valid = ref_norms * got_norms > 0
    cosine = float(((ref * got).sum(axis=1)[valid] / (ref_norms * got_norms)[valid]).mean()) if valid.any() else None
    nonzero = ref_norms > 0
    relative = float((np.linalg.norm(ref - got, axis=1)[nonzero] / ref_norms[nonzero]).mean()) if nonzero.any() else None
    top1 = decisions = None
    if kind == "scores":
        units = reference.shape[-1] if reference.ndim > 1 else 1
        if units >= 2:
            top1 = float((reference.reshape(-1, units).argmax(axis=1) == candidate.reshape(-1, units).argmax(axis=1)).mean())
        else:  # one sigmoid (probabilities) or one logit per input or position: a decision
            threshold = 0.5 if reference.min() >= 0 and reference.max() <= 1 else 0.0
            decisions = float(((reference > threshold) == (candidate > threshold)).mean())
    return OutputFidelity(
        kind=kind,
        sqnr_db=round(sqnr_db(ref, got), 3),
        cosine=round(cosine, 6) if cosine is not None else None,
        max_abs_error=round(float(np.abs(ref - got).max()), 6),
        relative_error=round(relative, 6) if relative is not None else None,
        top1_agreement=round(top1, 6) if top1 is not None else None,
        decision_agreement=round(decisions, 6) if decisions is not None else None,
    )


def fidelity(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], signature, *, inputs: str,
             calibration_data: bool) -> Fidelity:
    return Fidelity(
        inputs=inputs,
        calibration_data=calibration_data,
        outputs={spec.name: output_fidelity(reference[spec.name], candidate[spec.name], spec.kind) for spec in signature.outputs},
    )
