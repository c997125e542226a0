"""One module per function; each exposes ``SPEC: FunctionSpec``.

Adding a function = adding one file here (see README, "Add a function").
"""
