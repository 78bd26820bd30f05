"""Demo data (`linli demo`): loader builds B社区 and calls the others for books, the feed, the
project's history, governance and votes."""
