"""A deterministic simulated term of Blackboard Learn activity.

``roster`` and ``term`` only compute (events and the times Learn hands them over, no I/O);
``files`` writes a term as JSON Lines envelopes; ``replay`` sends it through a `Sensor`.
"""

from caliper_stream.simulate.term import Planned, TermConfig, generate

__all__ = ["Planned", "TermConfig", "generate"]
