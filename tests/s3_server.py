"""An S3-compatible server on localhost for the object-storage tests (filled in by issue 22)."""
