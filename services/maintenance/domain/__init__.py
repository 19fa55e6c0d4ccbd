"""Maintenance domain: plain Python rules, no gRPC and no SQL."""
