"""Settings from the environment: a bad value is one sentence naming the variable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.cli import app
from retail.settings import SettingsError, get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_placeholder_secret_is_refused_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISLE_ENVIRONMENT", "prod")
    monkeypatch.delenv("AISLE_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="AISLE_SECRET_KEY must be set"):
        get_settings()
    monkeypatch.setenv("AISLE_SECRET_KEY", "a-real-secret-of-some-length")
    assert get_settings().environment == "prod"


def test_the_cli_says_which_variable_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    monkeypatch.setenv("AISLE_PORT", "eighty")
    result = CliRunner().invoke(app, ["data", "stats"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: Invalid configuration: AISLE_PORT:")
    assert "Traceback" not in result.output
