"""fleetledger: the ledger of an AI agent fleet."""

__version__ = "0.1.0"
