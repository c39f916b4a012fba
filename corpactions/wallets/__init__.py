"""The wallet registry: tax class, blocked and excluded wallets, as signed append-only rows."""
