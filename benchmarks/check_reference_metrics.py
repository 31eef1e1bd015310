"""spa2v's layout metrics against the LTSim authors' reference code, on random frame pairs.

Run: ``.venv/bin/python benchmarks/check_reference_metrics.py --ltsim-repo PATH [--pairs 300]``

``PATH`` is a checkout of https://github.com/mayu-ot/ltsim (its ``src/layout_eval/measures``
is imported from there; its LTSim needs POT: ``pip install pot``). For random pairs of frames
(0–3 boxes each, two labels; empty frames included) it prints the largest difference of
spa2v's MaxIoU and DocSim under the ``reference`` convention (MaxIoU over the pairs the
reference scores: it skips the others, and so must spa2v; DocSim where the counts are equal)
and of LTSim everywhere, and how many unequal-count pairs the reference DocSim scores
differently (its score-matrix indexing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ltsim-repo", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=300)
    args = ap.parse_args()
    sys.path.insert(0, str(args.ltsim_repo / "src"))
    from layout_eval.measures.docsim import compute_doc_sim_for_layout_pair as ref_docsim
    from layout_eval.measures.ltsim import compute_ltsim_between_layout as ref_ltsim
    from layout_eval.measures.maximum_iou import compute_maximum_iou_for_layout_pair as ref_miou

    from spa2v.evaluation.layout import doc_sim, lt_sim, max_iou

    rng = np.random.default_rng(0)

    def boxes(n: int) -> np.ndarray:
        x0, y0 = rng.uniform(0, 0.6, n), rng.uniform(0, 0.6, n)
        w, h = rng.uniform(0.1, 0.4, n), rng.uniform(0.1, 0.4, n)
        return np.stack([x0, y0, x0 + w, y0 + h], 1).reshape(n, 4)

    def ref(b: np.ndarray, labels: list[int]) -> dict:  # the reference's (cx, cy, w, h)
        return {"category": labels, "bbox": [[(r[0] + r[2]) / 2, (r[1] + r[3]) / 2,
                                              r[2] - r[0], r[3] - r[1]] for r in b]}  # fmt: skip

    worst = {"max_iou": 0.0, "docsim": 0.0, "ltsim": 0.0}
    scored = equal = unequal_differ = 0
    for _ in range(args.pairs):
        n, m = (int(v) for v in rng.integers(0, 4, 2))  # empty frames too
        a, b = boxes(n), boxes(m)
        la, lb = [int(v) for v in rng.integers(0, 2, n)], [int(v) for v in rng.integers(0, 2, m)]
        r = ref_miou(ref(a, la), ref(b, lb))
        s = max_iou(a, la, b, lb, convention="reference")
        if (r is None) != (s is None):
            raise SystemExit(f"skipped by one and not the other: {la} vs {lb}")
        if r is not None:
            scored += 1
            worst["max_iou"] = max(worst["max_iou"], abs(r - s))
        d = abs(ref_docsim(ref(a, la), ref(b, lb)) - doc_sim(a, la, b, lb, convention="reference"))
        if n == m:
            equal += 1
            worst["docsim"] = max(worst["docsim"], d)
        else:
            unequal_differ += d > 1e-9
        worst["ltsim"] = max(worst["ltsim"], abs(ref_ltsim(ref(a, la), ref(b, lb))
                                                 - lt_sim(a, la, b, lb)))  # fmt: skip
    print(f"{args.pairs} random frame pairs: MaxIoU (reference convention) largest difference "
          f"{worst['max_iou']:.1e} over {scored} scored pairs; DocSim {worst['docsim']:.1e} "
          f"over {equal} equal-count pairs ({unequal_differ} of {args.pairs - equal} "
          f"unequal-count pairs differ: the reference's indexing); LTSim "
          f"{worst['ltsim']:.1e} over all")  # fmt: skip


if __name__ == "__main__":
    main()
