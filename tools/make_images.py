"""Regenerate the example images in docs/img (run: python tools/make_images.py)."""

from __future__ import annotations

from pathlib import Path

from course_lib import run_virtual
from course_lib.demos import agents_demo, scheduler_demo
from course_lib.viz import agent_timeline, dag_plot, scheduler_timeline

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    scheduler = run_virtual(scheduler_demo())
    figures = {
        "scheduler_timeline.png": scheduler_timeline(scheduler),
        "scheduler_slots.png": scheduler_timeline(scheduler, by="slot"),
        "scheduler_dag.png": dag_plot(scheduler),
        "agent_timeline.png": agent_timeline(run_virtual(agents_demo())),
    }
    for name, fig in figures.items():
        fig.savefig(OUT / name, dpi=100, metadata={"Software": None})
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
