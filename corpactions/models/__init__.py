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
from corpactions.models.lookup_tables import LookupTable, TableStatus
from corpactions.models.meetings import Ballot, BallotNonce, MeetingResult
from corpactions.models.notifications import WebhookDelivery
from corpactions.models.operators import ROLES, Operator, OperatorChange
from corpactions.models.plans import (
    Approval,
    LineStatus,
    PayoutLine,
    PayoutPlan,
    PlanNodes,
    PlanStatus,
)
from corpactions.models.reserves import (
    AuditorKey,
    BackingCheck,
    CustodyStatement,
    QuarantinedStatement,
)
from corpactions.models.snapshots import Snapshot
from corpactions.models.tasks import TaskFailure
from corpactions.models.wallets import WalletRecord

__all__ = [
    "ROLES",
    "TERMINAL_ACTION_STATUSES",
    "ActionKind",
    "ActionStatus",
    "AdjustmentStatus",
    "Approval",
    "AuditorKey",
    "BackingCheck",
    "Ballot",
    "BallotNonce",
    "BatchStatus",
    "CorporateAction",
    "CorporateActionVersion",
    "CustodyStatement",
    "FundingStatus",
    "Instrument",
    "InstrumentBase",
    "InstrumentSymbol",
    "LineStatus",
    "LookupTable",
    "MeetingResult",
    "MultiplierDecision",
    "MultiplierPlan",
    "Operator",
    "OperatorChange",
    "PayoutBatch",
    "PayoutLine",
    "PayoutPlan",
    "PlanFunding",
    "PlanNodes",
    "PlanStatus",
    "QuarantinedRecord",
    "QuarantinedStatement",
    "Snapshot",
    "TableStatus",
    "TaskFailure",
    "TokenProgram",
    "WalletRecord",
    "WebhookDelivery",
]
