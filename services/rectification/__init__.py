"""Problems and their rectification: contracts, the state machine, transitions, the read model, the
workflow client.
"""
