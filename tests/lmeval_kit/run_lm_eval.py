"""Run lm-eval itself on local task files and a local model; write what it did per document as JSON.

    python run_lm_eval.py MODEL_DIR TASKS_DIR OUT.json TASK [TASK ...]

Run with the task files' folder's sibling as the working directory: lm-eval reads
``dataset_kwargs.data_files`` relative to it. Offline: the Hub is never asked.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


def plain(value):
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value


def main() -> None:
    model_dir, tasks_dir, out, *tasks = sys.argv[1:]
    import torch

    torch.set_num_threads(1)
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    result = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=tasks,
                             device="cpu", batch_size=8, log_samples=True,
                             task_manager=TaskManager(include_path=tasks_dir))
    docs = {}
    for task, samples in result["samples"].items():
        docs[task] = [{
            "doc_id": s["doc_id"],
            "arguments": plain([list(a)[:2] if not isinstance(a, dict) else a for a in s["arguments"]]),
            "resps": plain(s["resps"]),
            "filtered_resps": plain(s["filtered_resps"]),
            "filter": s["filter"],
            "metrics": {m: plain(s[m]) for m in s["metrics"]},
        } for s in samples]
    json.dump({"results": plain(result["results"]), "samples": docs}, open(out, "w"), indent=1, default=str)


if __name__ == "__main__":
    main()
