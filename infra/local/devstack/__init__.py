"""The local stack: a Cognito stand-in and ``authproxy dev``.

Never imported by the deployables at run time; ``authproxy dev`` loads it on demand.
"""
