"""The service's settings and the command line's are one definition per LOYALTY_ variable."""

from __future__ import annotations

import pytest

from guardrails.ledger.stores import open_stores_with_keys
from loyalty.settings import Settings
from serving.settings import ServiceSettings


def test_the_commands_settings_are_the_services_plus_their_own():
    assert issubclass(Settings, ServiceSettings)
    extra = set(Settings.model_fields) - set(ServiceSettings.model_fields)
    assert extra == {"seed", "ssl_certfile", "ssl_keyfile", "operator"}
    for name, field in ServiceSettings.model_fields.items():
        assert Settings.model_fields[name].default == field.default


@pytest.mark.parametrize("cls", [ServiceSettings, Settings])
def test_both_read_the_same_variables(cls, monkeypatch, tmp_path):
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path))
    monkeypatch.setenv("LOYALTY_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("LOYALTY_MODEL_NAME_PREFIX", "x-")
    s = cls()
    assert s.home == tmp_path and s.max_body_bytes == 2048 and s.model_name("risk") == "x-risk"
    assert s.ledger_database == f"sqlite:///{(tmp_path / 'ledger.db').resolve()}"


def test_key_files_are_made_only_when_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys = tmp_path / "keys"
    opts = {"audit_secret": None, "pseudonym_secret": None, "keys_dir": keys}
    with open_stores_with_keys(url, **opts, create_keys=False) as stores:
        assert stores.pseudonymizer is None
    assert not keys.exists()
    with open_stores_with_keys(url, **opts, create_keys=True) as stores:
        assert stores.pseudonymizer is not None
    assert {p.name for p in keys.iterdir()} == {"audit.key", "pseudonym.key"}
    with open_stores_with_keys(url, **opts | {"pseudonym_secret": "s"}, create_keys=False):
        pass
