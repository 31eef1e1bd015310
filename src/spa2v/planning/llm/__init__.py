"""LLM planners: Gemini and OpenAI-compatible models given the measured cues as text.

See :mod:`spa2v.planning.llm.planner`. The SDKs are optional (``pip install 'spa2v[llm]'``).
"""

from spa2v.config import LLMSettings
from spa2v.planning.llm.planner import LLMPlanner, estimate_tokens

__all__ = ["LLMPlanner", "LLMSettings", "estimate_tokens"]
