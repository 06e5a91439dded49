"""The emitting side: Learn-shaped event builders and a durable, batching Caliper sensor.

``builders`` makes events; ``flow`` decides what to send when (batching, nightly holding,
retries) without doing any I/O; ``outbox`` keeps every event on disk until an endpoint has
acknowledged it; ``client`` holds the two thin drivers, `Sensor` (sync) and `AsyncSensor`.
"""

from caliper_stream.sensor.builders import Built, Learn
from caliper_stream.sensor.client import AsyncSensor, Sensor
from caliper_stream.sensor.clock import ManualClock, ScaledClock, SystemClock
from caliper_stream.sensor.outbox import Counts, Outbox

__all__ = ["AsyncSensor", "Built", "Counts", "Learn", "ManualClock", "Outbox", "ScaledClock", "Sensor", "SystemClock"]
