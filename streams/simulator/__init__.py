"""The traffic simulator behind ``funnelwatch simulate``.

Realistic funnel traffic (clicks, leads, CRM lifecycles) for a set of campaigns with a
daily and weekly rhythm, scheduled incidents, and faults (duplicates, out-of-order
sends, malformed records), plus a ground-truth file of everything sent.
Generation is deterministic for a given :class:`SimulationConfig`.
"""

from .faults import MALFORMED_KINDS, MalformedKind
from .generator import generate, generate_timed, run_tag
from .ground_truth import GroundTruthWriter, read_ground_truth, write_ground_truth
from .incidents import Incident, form_broken, parse_incident, sales_stop
from .model import Campaign, SimulationConfig, default_campaigns
from .records import SentRecord, TimedRecord

__all__ = [
    "MALFORMED_KINDS",
    "Campaign",
    "GroundTruthWriter",
    "Incident",
    "MalformedKind",
    "SentRecord",
    "SimulationConfig",
    "TimedRecord",
    "default_campaigns",
    "form_broken",
    "generate",
    "generate_timed",
    "parse_incident",
    "read_ground_truth",
    "run_tag",
    "sales_stop",
    "write_ground_truth",
]
