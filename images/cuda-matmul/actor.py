"""cuda-matmul: square matrix multiplies on the assigned GPU for MSG seconds (default 4)."""
import json
import os
import time

import torch

from runtime_sdk import get_context, send_bytes_result

context = get_context()
seconds = float(context.raw_message or 4)
device = torch.device("cuda:0")  # the first (and only) device CUDA_VISIBLE_DEVICES leaves us
a = torch.randn(8192, 8192, device=device)
b = torch.randn(8192, 8192, device=device)
rounds, started = 0, time.monotonic()
while time.monotonic() - started < seconds:
    c = a @ b
    torch.cuda.synchronize()
    rounds += 1
report = {"device": torch.cuda.get_device_name(0), "rounds": rounds,
          "visible": os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("NVIDIA_VISIBLE_DEVICES"),
          "assigned": os.environ.get("_abaco_gpus"), "checksum": float(c[0, 0])}
print(json.dumps(report))
send_bytes_result(json.dumps(report).encode())
