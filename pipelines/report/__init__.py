"""The monthly portfolio-review report: queries → figures → self-contained HTML."""
