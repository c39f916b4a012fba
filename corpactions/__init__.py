"""corpactions: corporate actions for tokenized stocks on Solana."""

__version__ = "0.1.0"
