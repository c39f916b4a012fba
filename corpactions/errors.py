"""The one error tree of corpactions.

Every error says what went wrong (its message) and what to do about it (``hint``). The CLI
prints ``error: <message> (<hint>)`` on one line; the API maps the classes to HTTP statuses.
Third-party errors are translated at one place each (RPC in ``corpactions.chain``, HTTP feeds in
``corpactions.feeds.http``, database in ``corpactions.db``) with ``raise Ours(...) from exc``.

    CorpactionsError
    ├── UserInputError            bad argument, file or identifier given by a person (exit 2)
    │   ├── InvalidAddress        not a base58 32-byte Solana address
    │   ├── NotFound              an id or symbol that does not exist
    │   ├── AlreadyExists         a unique thing registered twice
    │   └── WalletChangeRefused   a wallet registry change was not recorded (value, concurrency)
    ├── ConfigurationError        a setting is missing or unusable (exit 2)
    ├── LedgerError               the database refused or is unreachable
    ├── FeedError                 a corporate-action feed could not be read
    │   └── InvalidRecord         one record failed validation (it is quarantined, not lost)
    ├── ChainError                Solana RPC or program trouble
    │   ├── TransientRpcError     429, 5xx, timeouts: retry later with backoff
    │   └── RpcRefused            the node will not serve this request (wrong provider/setting)
    ├── SnapshotError             a holder snapshot could not be proven complete
    ├── PlanError                 a payout plan cannot move to the requested state
    ├── BackingError              a custody statement or a check of backing cannot be used
    ├── OperatorError             an operator name, key or registry change is not acceptable
    │   └── SignatureRefused      a decision's signature does not prove a live operator's role
    └── MeetingError              a meeting cannot do what was asked (no agenda, not closed)
        └── BallotRejected        a ballot was not accepted (signature, deadline, choices)

Transient errors (``TransientRpcError`` and ``FeedUnavailable`` style) carry ``transient = True``;
Celery tasks retry on exactly those and nothing else.
"""

from __future__ import annotations


class CorpactionsError(Exception):
    """Base of every error corpactions raises on purpose."""

    exit_code = 1
    transient = False
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        """The message and the hint on one line, for a terminal or a log."""
        text = " ".join(self.message.split())
        return f"{text} ({self.hint})" if self.hint else text


class UserInputError(CorpactionsError):
    """An argument, file or identifier given by a person is not acceptable."""

    exit_code = 2


class InvalidAddress(UserInputError):
    """A string that should be a Solana address (base58, 32 bytes) is not one."""

    default_hint = "a Solana address is 32 bytes written in base58, 32 to 44 characters"


class NotFound(UserInputError):
    """A referenced id, symbol or file does not exist."""


class AlreadyExists(UserInputError):
    """Something that must be unique was registered a second time."""


class WalletChangeRefused(UserInputError):
    """A change of the wallet registry was refused: nothing was recorded. The message says why
    (an unknown tax class, a missing reason, a concurrent change of the same wallet). A change
    without a valid operator signature is a ``SignatureRefused``."""


class ConfigurationError(CorpactionsError):
    """A setting is missing, malformed or points at something unusable."""

    exit_code = 2


class LedgerError(CorpactionsError):
    """The ledger database refused an operation or cannot be reached."""

    default_hint = "check CORPACTIONS_DATABASE_URL and run 'corpactions db upgrade'"


class FeedError(CorpactionsError):
    """A corporate-action feed could not be fetched or read as a whole."""


class InvalidRecord(FeedError):
    """One feed record failed validation; it is quarantined with this reason."""


class ChainError(CorpactionsError):
    """Solana RPC or on-chain program trouble."""


class WebhookUnavailable(CorpactionsError):
    """A webhook receiver did not answer, or answered other than 2xx; retried with backoff."""

    transient = True
    default_hint = "retried automatically; check the receiver (CORPACTIONS_WEBHOOK_URLS)"


class TransientRpcError(ChainError):
    """The RPC node is busy or unreachable for now (429, 5xx, timeout); retry with backoff."""

    transient = True
    default_hint = "retried automatically; check the node or use another RPC node"


class RpcRefused(ChainError):
    """The RPC node answered but will not serve this request."""


class SnapshotError(CorpactionsError):
    """A holder snapshot could not be taken or proven complete."""


class PlanError(CorpactionsError):
    """A payout plan cannot move to the requested state."""

    exit_code = 2


class BackingError(CorpactionsError):
    """A custody statement cannot be used (no instrument, bad signature), or a check of the
    token supply against the custodian's shares cannot be made."""


class PendingMultiplier(PlanError):
    """Sending a multiplier plan now would overwrite a multiplier the mint has pending."""


class MultiplierChanged(PlanError):
    """The mint's multiplier is no longer the one a multiplier plan was computed from."""


class OperatorError(CorpactionsError):
    """An operator name, key, role or registry change is not acceptable."""

    exit_code = 2


class SignatureRefused(OperatorError):
    """A signature does not prove that a live operator holding the needed role decided this
    exact message: unknown or revoked operator, role missing, or the signature does not verify."""


__all__ = [
    "AlreadyExists",
    "ChainError",
    "ConfigurationError",
    "CorpactionsError",
    "FeedError",
    "InvalidAddress",
    "InvalidRecord",
    "LedgerError",
    "MultiplierChanged",
    "NotFound",
    "OperatorError",
    "PendingMultiplier",
    "PlanError",
    "RpcRefused",
    "SignatureRefused",
    "SnapshotError",
    "TransientRpcError",
    "UserInputError",
    "WalletChangeRefused",
]


class MeetingError(CorpactionsError):
    """A shareholder meeting is not in a state that allows what was asked."""

    exit_code = 2


class BallotRejected(MeetingError):
    """A ballot was refused: nothing was stored. The message says exactly why."""

    status_code = 422
