from mcpserver.transport import wants_progress


def test_wants_progress_reads_the_progress_token() -> None:
    asks = {"method": "tools/call", "params": {"name": "x", "_meta": {"progressToken": 0}}}
    silent = {"method": "tools/call", "params": {"name": "x", "_meta": {}}}
    assert wants_progress([asks])
    assert not wants_progress([silent])
    assert not wants_progress([{"method": "tools/list"}])
    assert not wants_progress([{"method": "tools/call", "params": {"_meta": "x"}}])
