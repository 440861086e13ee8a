"""workers/providers"""
