"""A subject's life in the gateway besides captures: enrollment, erasure and sharing.

Each input (an enrollment, a consent record, a share request) or sweep is decided by a pure
function that appends to a `Step`: the outputs to produce and the audit record, chained into
the audit partition of the input's partition, as captures are.
"""
