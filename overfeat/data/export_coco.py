"""Any dataset's examples as a COCO-format folder: ``images/*.jpg`` and ``annotations.json``.

``overfeat data export synthetic/detect --count 400 --out shapes/`` makes a folder of the kind
an annotation tool exports, to try ``overfeat data prepare coco-folder`` and the custom-data
walk-through (README, "Your own data") without photos of one's own, or to look at a dataset
in another tool. Boxes are written as COCO's ``[x, y, width, height]`` in pixels (the
project's ``xyxy`` pixel edges, so they read back exactly); ``ignore`` objects become
``iscrowd`` regions; categories get ids 1..K in label order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

# Quality 95 without chroma subsampling: 4:2:0 blurs small coloured textures (the synthetic
# shapes') by 5 grey levels on average, up to 15; 4:4:4 keeps them within 1.5 (at most 2.5).
JPEG_QUALITY = 95
JPEG_SUBSAMPLING = 0  # 4:4:4
ANNOTATIONS = "annotations.json"


def export_coco_folder(source, out_dir: str | os.PathLike, *, count: int, start: int = 0) -> dict:
    """Write ``source[start : start + count]`` under ``out_dir`` (``images/`` and
    ``annotations.json``, written last and atomically). Returns counts for a summary."""
    stop = min(start + count, len(source))
    if count < 1 or start < 0 or start >= stop:
        raise ValueError(f"nothing to export: {len(source)} examples, --start {start}, "
                         f"--count {count}")
    out = Path(out_dir)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    class_names = tuple(source.class_names)
    images, annotations = [], []
    for image_id, index in enumerate(range(start, stop), start=1):
        example = source[index]
        height, width = example["image"].shape[:2]
        file_name = f"{index:06d}.jpg"
        Image.fromarray(example["image"]).save(images_dir / file_name, quality=JPEG_QUALITY,
                                            subsampling=JPEG_SUBSAMPLING)
        images.append({"id": image_id, "file_name": file_name, "width": int(width),
                       "height": int(height)})
        boxes = np.asarray(example.get("boxes", np.zeros((0, 4))), np.float64).reshape(-1, 4)
        labels = np.asarray(example.get("labels", np.zeros(0)), np.int64)
        ignore = np.asarray(example.get("ignore", np.zeros(len(boxes), bool)), bool)
        for box, label, crowd in zip(boxes, labels, ignore, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": int(label) + 1,
                "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)],
                "area": round((x1 - x0) * (y1 - y0), 3), "iscrowd": int(crowd)})
    document = {
        "info": {"description": f"exported by overfeat from {getattr(source, 'name', '')}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(class_names)],
    }
    temporary = out / f".{ANNOTATIONS}.tmp"
    temporary.write_text(json.dumps(document))
    os.replace(temporary, out / ANNOTATIONS)
    return {"images": len(images), "objects": len(annotations), "classes": len(class_names),
            "images_dir": str(images_dir), "annotations": str(out / ANNOTATIONS)}
