"""workers/generation"""
