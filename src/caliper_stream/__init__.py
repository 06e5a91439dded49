"""caliper-stream: read, store, analyse and emit the IMS Caliper stream that Blackboard Learn sends.

The pipeline is read → normalize → validate → store → analyse; each stage is a module or
package of the same name. The names below are the public API.
"""

import os

from caliper_stream.compiled import PURE_ENV, prefer_source

if os.environ.get(PURE_ENV):  # before the imports below: the compiled hot path off (compiled.py)
    prefer_source()

from caliper_stream.errors import CaliperStreamError, ReadError, StoreError, StoreUnavailable
from caliper_stream.event import Event, decode
from caliper_stream.keydata import KeyData
from caliper_stream.problems import Problem
from caliper_stream.read import Envelope, RawEvent, read

__all__ = [
    "CaliperStreamError",
    "Envelope",
    "Event",
    "KeyData",
    "Problem",
    "RawEvent",
    "ReadError",
    "StoreError",
    "StoreUnavailable",
    "decode",
    "read",
]

__version__ = "0.1.0"
