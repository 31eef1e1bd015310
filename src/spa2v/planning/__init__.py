"""Planning: measured cues -> Video Scene Layout.

``cues`` (default) is the offline, deterministic cue-based planner; ``naive`` is the
one-object baseline the benchmarks compare against.
"""

from spa2v.planning.base import Planner, PlanOptions, get_planner, planner_names

__all__ = ["PlanOptions", "Planner", "get_planner", "planner_names"]
