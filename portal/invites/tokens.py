"""Invite tokens: random, shown once, stored only as hashes.

The git password is derived from the link token, so the candidate's page (opened
with the link token) can show it again without the portal storing it anywhere.
"""

import base64
import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_public_id() -> str:
    # 80 random bits in lowercase base32: safe in URLs, git user names and file names.
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, expected_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), expected_hash)


def git_token_for(*, link_token: str, public_id: str) -> str:
    digest = hmac.new(link_token.encode(), f"git:{public_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
