"""The REST API at /api/v1/: token-authenticated, thin over the same services as the pages."""
