"""Who is calling: credentials, access tokens and principals (DESIGN §8)."""
