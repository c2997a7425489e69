"""The CLIP model: the ONNX Runtime towers and CLIP's preprocessing that the images run, the
export that makes them (build time, with torch), the torch reference it is checked against, the
probe set of that check, and the `Embedder` protocol the services use. Imports only `vectors`."""
