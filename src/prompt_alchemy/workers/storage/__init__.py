"""workers/storage"""
