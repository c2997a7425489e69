"""`make sweep`: the scheduled sweep once, on the local system.

Starts the local system with its stream switched off, so that the sample videos are processed in
the table but never embedded; invokes the batch function with the schedule's event; shows what the
sweep queued; lets the work queue's event source run them; sweeps again (nothing left to queue).
"""

from __future__ import annotations

import json
import sys

from clipsearch.work.messages import SWEEP_EVENT
from local.models import choose_model
from local.stack import local_system


def main() -> int:
    model = choose_model()
    print(f"model: {model.note}")
    with local_system(model.path, auto_index=False) as system:
        videos = system.add_samples()
        print(f"{len(videos)} processed videos in {system.table}, none embedded yet (the stream is off)")
        first = json.loads(system.invoke("batch", SWEEP_EVENT)["body"])
        print(f"sweep: {first['videos']} processed videos, queued {first['queued']}")
        while system.work_source.poll():
            pass
        print(f"the work queue's event source ran the batch function {system.work_source.invocations} times")
        second = json.loads(system.invoke("batch", SWEEP_EVENT)["body"])
        print(f"sweep again: queued {second['queued'] or 'nothing: every video is complete'}")
        if sorted(first["queued"]) != sorted(videos) or second["queued"]:
            raise RuntimeError(f"unexpected sweep results: {first}, {second}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
