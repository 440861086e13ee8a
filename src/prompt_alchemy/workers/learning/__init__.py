"""workers/learning"""
