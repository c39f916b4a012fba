"""Non-cash corporate actions: share-count adjustments (splits, reinvestment)."""
