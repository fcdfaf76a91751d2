"""sleep-loop: MSG iterations of one second each (SLEEP_SECONDS changes the step)."""
import os
import time

from runtime_sdk import get_context

context = get_context()
try:
    iterations = int(context.raw_message or context.message_dict.get("iterations", 1))
except ValueError:
    iterations = 1
step = float(os.environ.get("SLEEP_SECONDS", "1"))
for iteration in range(1, iterations + 1):
    print(f"iteration {iteration} of {iterations}", flush=True)
    time.sleep(step)
print("done")
