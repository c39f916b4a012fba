"""The ledger schema, one module per aggregate. Importing this registers every table."""

from corpactions.models.actions import (
    TERMINAL_ACTION_STATUSES,
    ActionKind,
    ActionStatus,
    CorporateAction,
    CorporateActionVersion,
    QuarantinedRecord,
)
from corpactions.models.adjustments import AdjustmentStatus, MultiplierDecision, MultiplierPlan
from corpactions.models.batches import BatchStatus, PayoutBatch
from corpactions.models.funding import FundingStatus, PlanFunding
from corpactions.models.instruments import (
    Instrument,
    InstrumentBase,
    InstrumentSymbol,
    TokenProgram,
)
from corpactions.models.meetings import Ballot, MeetingResult
from corpactions.models.plans import Approval, LineStatus, PayoutLine, PayoutPlan, PlanStatus
from corpactions.models.snapshots import Snapshot
from corpactions.models.tasks import TaskFailure
from corpactions.models.wallets import Wallet

__all__ = [
    "TERMINAL_ACTION_STATUSES",
    "ActionKind",
    "ActionStatus",
    "AdjustmentStatus",
    "Approval",
    "Ballot",
    "BatchStatus",
    "CorporateAction",
    "CorporateActionVersion",
    "FundingStatus",
    "Instrument",
    "InstrumentBase",
    "InstrumentSymbol",
    "LineStatus",
    "MeetingResult",
    "MultiplierDecision",
    "MultiplierPlan",
    "PayoutBatch",
    "PayoutLine",
    "PayoutPlan",
    "PlanFunding",
    "PlanStatus",
    "QuarantinedRecord",
    "Snapshot",
    "TaskFailure",
    "TokenProgram",
    "Wallet",
]
