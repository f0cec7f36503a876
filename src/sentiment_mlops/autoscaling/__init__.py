"""Predictive autoscaling: the request-rate forecaster, KEDA's external gRPC scaler and a trace simulator.

Nothing is imported here on purpose: ``sentiment autoscale --help`` stays instant and the
scaler container does not load matplotlib.
"""
