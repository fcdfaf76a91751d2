"""run-step: one stage of a run, driven by its JSON message (docs/runs.md, the README's
grading example). Every string is expanded with the environment ($STUDENT, ${SCORE}), so
an item's keys shape what it does.

    {"write": {"build.txt": "built $STUDENT"},  # outputs: path -> text
     "copy": "all-inputs.txt",                   # outputs: every input file, concatenated
     "fail_if": "BROKEN",                        # exit 3 when $BROKEN is set (not "", "0", "false")
     "fail_attempts": 1,                         # ... only on attempts up to this (then it works)
     "sleep": "$SECONDS",                        # seconds, before anything is written
     "grades": "grades.csv"}                     # a finally stage: one CSV row per item

It first prints every input file as ``input <path>: <first line>`` and whether the inputs
folder could be written to (``inputs writable: no`` is what the platform promises). ``grades`` reads
``_run/summary.json`` and, per item, ``<stage>/<item>/score.txt`` of any stage it needs.
"""
import csv
import json
import os
import string
import sys
import time

from runtime_sdk import get_context, inputs_dir, outputs_dir


def expand(value):
    return string.Template(str(value)).safe_substitute(os.environ)


def input_files(root):
    found = []
    for folder, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, name), root) for name in files]
    return sorted(found)


def read(root, path):
    with open(os.path.join(root, path), encoding="utf-8", errors="replace") as handle:
        return handle.read()


def write(path, text):
    target = os.path.join(outputs_dir(), path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {path}", flush=True)


def writable(root):
    try:
        with open(os.path.join(root, ".probe"), "w") as probe:
            probe.write("x")
        return True
    except OSError:
        return False


def grades(root, name):
    summary = json.loads(read(root, "_run/summary.json"))
    keys = sorted({key for item in summary["items"] for key in item["env"]})
    stages = [stage["name"] for stage in summary["stages"]]
    scored = [s for s in stages if os.path.isdir(os.path.join(root, s))]
    rows = [["item", *keys, "status", *(f"{s} score" for s in scored)]]
    for item in summary["items"]:
        scores = []
        for stage in scored:
            path = os.path.join(stage, str(item["index"]), "score.txt")
            scores.append(read(root, path).strip() if os.path.exists(os.path.join(root, path))
                          else "-")
        rows.append([item["index"], *(item["env"].get(k, "") for k in keys), item["status"],
                     *scores])
    target = os.path.join(outputs_dir(), name)
    with open(target, "w", newline="") as out:
        csv.writer(out).writerows(rows)
    print(f"wrote {name}: {len(rows) - 1} item(s), run {summary['status']}"
          f"{' (cancelled)' if summary.get('cancelled') else ''}", flush=True)


def main():
    message = get_context().message_dict
    root = inputs_dir()
    files = input_files(root) if os.path.isdir(root) else []
    for path in files:
        first = read(root, path).splitlines()[:1]
        print(f"input {path}: {first[0] if first else ''}", flush=True)
    if os.path.isdir(root):
        print(f"inputs writable: {'yes' if writable(root) else 'no'}", flush=True)
    if message.get("sleep"):
        time.sleep(float(expand(message["sleep"]) or 0))
    failing = os.environ.get(message["fail_if"], "") if message.get("fail_if") else ""
    attempt = int(os.environ.get("_abaco_run_attempt") or 1)
    if failing.lower() not in ("", "0", "false") and \
            attempt <= int(message.get("fail_attempts") or 1_000_000):
        print(f"failing: {message['fail_if']}={failing} (attempt {attempt})", flush=True)
        sys.exit(3)
    for path, text in (message.get("write") or {}).items():
        write(expand(path), expand(text))
    if message.get("copy"):
        write(expand(message["copy"]), "".join(read(root, p) for p in files
                                               if not p.startswith("_run/")))
    if message.get("grades"):
        grades(root, expand(message["grades"]))


main()
