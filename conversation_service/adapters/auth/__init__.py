"""Credential verification (API keys, JWT) into a domain `Principal`; see authenticator.py."""

from conversation_service.adapters.auth.authenticator import Authenticator, credential_of

__all__ = ["Authenticator", "credential_of"]
