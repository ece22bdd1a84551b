"""The Cognito stand-in: moto for the admin API plus an emulator of the managed-login endpoints."""
