"""A subject's life in the gateway besides captures: enrollment, erasure and sharing.

Each input (an enrollment, a consent record, a share request) or sweep is decided by a pure
function through a `Context` (gateway.core.context), exactly as captures are: the outputs to
produce and the audit record, chained into the audit partition of the input's partition.
"""
