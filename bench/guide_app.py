"""The guide's CLIP handler (its Step 5 `app.py`), the torch path bench_clip measures ours against.

As the guide writes it, with three changes only: the model comes from the folder MODEL_DIR names
(nothing is fetched from the Hub here); transformers 5's `get_*_features` return an output object,
so its `.pooler_output` is taken (the tensor transformers 4 returned); `except:` names Exception
(the linter's rule; the same behaviour for a JSON error).
"""

import io
import json
import os

import boto3
import numpy as np  # noqa: F401  (the guide imports it)
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

s3 = boto3.client("s3")

# Global model (load once per container)
MODEL_NAME = os.environ["MODEL_DIR"]
_model = None
_processor = None
_device = torch.device("cpu")


def load_model():
    global _model, _processor
    if _model is None:
        _model = CLIPModel.from_pretrained(MODEL_NAME).to(_device)  # type: ignore[arg-type]
        _processor = CLIPProcessor.from_pretrained(MODEL_NAME)
        _model.eval()
    return _model, _processor


def read_s3_image(s3uri):
    # s3uri: "s3://bucket/key"
    assert s3uri.startswith("s3://")
    path = s3uri[5:]
    bucket, key = path.split("/", 1)
    obj = s3.get_object(Bucket=bucket, Key=key)
    return Image.open(io.BytesIO(obj["Body"].read())).convert("RGB")


def handler(event, context):
    # event can be dict already or JSON string
    if isinstance(event, str):
        try:
            body = json.loads(event)
        except Exception:
            body = {}
    else:
        body = event if isinstance(event, dict) else {}
    mode = body.get("mode", "text")
    items = body.get("items", [])

    model, processor = load_model()

    if mode == "text":
        # items: list of strings
        inputs = processor(text=items, return_tensors="pt", padding=True)
        for k, v in inputs.items():
            inputs[k] = v.to(_device)
        with torch.no_grad():
            feats = model.get_text_features(**inputs).pooler_output
    else:  # image mode, items are s3:// URIs or base64 bytes (here we handle s3)
        imgs = []
        for it in items:
            if isinstance(it, str) and it.startswith("s3://"):
                imgs.append(read_s3_image(it))
            else:
                # unsupported type -> skip
                continue
        inputs = processor(images=imgs, return_tensors="pt", padding=True)
        for k, v in inputs.items():
            inputs[k] = v.to(_device)
        with torch.no_grad():
            feats = model.get_image_features(**inputs).pooler_output

    # normalize
    feats = torch.nn.functional.normalize(feats, p=2, dim=1).cpu().numpy()
    # return list of lists (float32)
    embeddings = feats.astype(float).tolist()
    return {"statusCode": 200, "body": json.dumps({"embeddings": embeddings, "dim": feats.shape[1]})}
