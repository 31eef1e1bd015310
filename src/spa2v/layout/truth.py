"""The layout a synthetic scene *should* get: its ground truth seen through the camera model.

Used for the in-context example bank of the LLM planners and for benchmarks: each source's
true azimuth and distance at the keyframe times become boxes (:class:`~spa2v.layout.camera.
Camera`, with distances relative to the nearest any source comes), and captions come from the
same templates as the cue-based planner, fed with the true motion.
"""

from __future__ import annotations

import numpy as np

from spa2v.audio.spatial import side_of
from spa2v.audio.synth import SceneTruth
from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL
from spa2v.planning import describe


def layout_from_truth(
    truth: SceneTruth,
    times: list[float],
    *,
    names: list[str] | None = None,
    camera: Camera | None = None,
) -> VSL:
    """The ground-truth layout of a scene at the given keyframe times.

    Parameters
    ----------
    truth : SceneTruth
        Ground truth of a rendered scene.
    times : list of float
        Keyframe times, s (increasing, within the scene).
    names : list of str or None
        Object names (default: the sources' labels), in the truth's source order.
    camera : Camera or None
        Camera model (default 90° field of view, the truth's frame size 512×320).

    Returns
    -------
    VSL
        One object per source, ordered from left to right by mean azimuth.
    """
    cam = camera or Camera()
    t_truth = np.asarray(truth.times_s)
    order = sorted(
        range(len(truth.sources)), key=lambda k: -float(np.mean(truth.sources[k].azimuth_deg))
    )
    labels = names or [s.label for s in truth.sources]
    nearest = min(float(np.min(s.distance_m)) for s in truth.sources)
    stories, tracks = [], []
    for k in order:
        src = truth.sources[k]
        az = np.interp(times, t_truth, src.azimuth_deg)
        d_rel = np.interp(times, t_truth, src.distance_m) / max(nearest, 1e-6)
        stories.append(
            describe.SourceStory(
                name=labels[k],
                behaviour=src.motion,  # the truth's motions are caption behaviours
                side_start=side_of(float(src.azimuth_deg[0])),
                side_end=side_of(float(src.azimuth_deg[-1])),
                side=side_of(float(np.median(src.azimuth_deg))),
            )
        )
        tracks.append((labels[k], az, d_rel))
    starts = [truth.sources[k].start_s for k in order]
    keyframes = []
    for i, t in enumerate(times):
        shown = [j for j in range(len(tracks)) if t >= starts[j]]  # silent: not shown yet
        boxes = [
            {"id": j, "box": cam.box(float(tracks[j][1][i]), float(tracks[j][2][i]), tracks[j][0])}
            for j in shown
        ]
        caption = describe.frame_caption(
            [stories[j] for j in shown],
            [side_of(float(tracks[j][1][i])) for j in shown],
            [describe.sized(float(tracks[j][2][i])) for j in shown],
        )
        keyframes.append({"time": float(t), "caption": caption, "boxes": boxes})
    return VSL(
        duration=truth.duration_s,
        width=cam.width,
        height=cam.height,
        caption=describe.global_caption(stories),
        objects=[{"id": j, "name": name} for j, (name, _, _) in enumerate(tracks)],
        keyframes=keyframes,
        camera={"fov_deg": cam.fov_deg, "horizon": cam.horizon},
    )
