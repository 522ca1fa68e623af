"""From a chosen network to code an engineer deploys: standalone C (``c``), ONNX (``onnx``),
a PyTorch module (``torch``), checked against the numpy reference (``verify``), written as
one folder (``bundle``). No optuna in here: the study a network comes from is read by the
caller."""
