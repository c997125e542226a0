"""One module or package per function; each exposes ``SPEC: FunctionSpec``.

Adding a function = adding one file (or one package) here: docs/functions.md, "Add a
function", and docs/functions-as-packages.md for a function's own commands and routes.
"""
