"""A local Binance-Spot-compatible venue (REST + WebSocket API) around the matching engine.

The real python-binance client talks to it on 127.0.0.1; see docs/SIMULATOR.md.
"""

from .faults import Faults
from .server import SimulatorServer

__all__ = ["Faults", "SimulatorServer"]
