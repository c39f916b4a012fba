"""Corporate-action feeds: one adapter per source, all producing ``NormalizedAction``."""
