"""Registration stores: SQLite for one host and tests, DynamoDB on AWS (design D9)."""
