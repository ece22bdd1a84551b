import pytest

from resourcekit.metadata import metadata_path, metadata_url, protected_resource_metadata


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("https://mcp.example.com/mcp", "/.well-known/oauth-protected-resource/mcp"),
        ("https://mcp.example.com/prod/mcp", "/.well-known/oauth-protected-resource/prod/mcp"),
        ("https://mcp.example.com/", "/.well-known/oauth-protected-resource"),
        ("https://mcp.example.com", "/.well-known/oauth-protected-resource"),
    ],
)
def test_the_well_known_segment_goes_before_the_path(resource: str, path: str) -> None:
    assert metadata_path(resource) == path


def test_the_metadata_url_is_absolute() -> None:
    assert metadata_url("http://127.0.0.1:8000/mcp") == (
        "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
    )


def test_the_document_keeps_urls_exactly_as_configured() -> None:
    document = protected_resource_metadata(
        "https://mcp.example.com/mcp",
        authorization_servers=["https://mcp.example.com"],
        scopes=["https://mcp.example.com/mcp/read"],
        name="Example",
    )
    assert document == {
        "resource": "https://mcp.example.com/mcp",
        "authorization_servers": ["https://mcp.example.com"],
        "scopes_supported": ["https://mcp.example.com/mcp/read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Example",
    }
