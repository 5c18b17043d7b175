"""nooble4 Conversation Service: the system of record for conversations between users and agents."""

__version__ = "0.1.0"
