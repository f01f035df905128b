"""API keys come from a Secret ref or the environment, and never show in text."""

from __future__ import annotations

import pytest

from events.errors import PermanentError
from functions.models.anthropic import AnthropicModel
from functions.models.keys import ApiKey, has_api_key, resolve_api_key

SECRET_VALUE = "sk-ant-from-secret-0001"


def model(**spec: object) -> dict[str, object]:
    """A Model resource in namespace team-a."""
    base = {"provider": "anthropic", "model": "claude-sonnet-5-5"}
    return {"metadata": {"name": "m", "namespace": "team-a"}, "spec": base | spec}


def secrets(store: dict[tuple[str, str, str], str]):  # type: ignore[no-untyped-def]
    """A SecretResolver over a dict that raises PermanentError naming a missing Secret."""

    def resolve(namespace: str, name: str, key: str) -> str:
        try:
            return store[(namespace, name, key)]
        except KeyError:
            raise PermanentError(
                f"Secret {namespace}/{name} has no key {key}", reason="SecretNotFound"
            ) from None

    return resolve


def test_secret_ref_resolved_in_model_namespace() -> None:
    """apiKeySecretRef reads the named key of the Secret in the Model's namespace."""
    resolver = secrets({("team-a", "anthropic", "token"): SECRET_VALUE + "\n"})
    ref = {"name": "anthropic", "key": "token"}
    key = resolve_api_key(model(apiKeySecretRef=ref), resolver, environ={})
    assert key.value == SECRET_VALUE
    assert key.source == "Secret team-a/anthropic key token"


def test_secret_ref_key_defaults_to_api_key() -> None:
    """Without a key name the CRD default api-key is used."""
    resolver = secrets({("team-a", "anthropic", "api-key"): SECRET_VALUE})
    key = resolve_api_key(model(apiKeySecretRef={"name": "anthropic"}), resolver, environ={})
    assert key.value == SECRET_VALUE


def test_missing_secret_is_permanent_and_named() -> None:
    """A missing Secret fails permanently with its name, from the resolver."""
    with pytest.raises(PermanentError, match="Secret team-a/gone has no key api-key"):
        resolve_api_key(model(apiKeySecretRef={"name": "gone"}), secrets({}), environ={})


def test_env_var_from_spec() -> None:
    """apiKeyEnv names the variable in the embedded shape."""
    key = resolve_api_key(model(apiKeyEnv="TEAM_KEY"), environ={"TEAM_KEY": "sk-env"})
    assert (key.value, key.source) == ("sk-env", "environment variable TEAM_KEY")


def test_default_env_var_when_no_secret_resolver() -> None:
    """Without a resolver (embedded), ANTHROPIC_API_KEY is used even if a Secret is named."""
    resource = model(apiKeySecretRef={"name": "anthropic"})
    key = resolve_api_key(resource, None, environ={"ANTHROPIC_API_KEY": "sk-default"})
    assert key.value == "sk-default"


def test_missing_env_var_names_the_variable() -> None:
    """No key at all fails permanently and says which variable to set."""
    with pytest.raises(PermanentError, match="set the environment variable TEAM_KEY") as caught:
        resolve_api_key(model(apiKeyEnv="TEAM_KEY"), environ={})
    assert caught.value.reason == "ModelCredentialsMissing"


def test_key_hidden_from_repr_and_str() -> None:
    """Neither the key nor a model bound to it prints the value."""
    key = ApiKey(SECRET_VALUE, "Secret team-a/anthropic key api-key")
    bound = AnthropicModel(model(), key)
    for text in (repr(key), str(key), repr(bound), str(bound), repr(bound.settings)):
        assert SECRET_VALUE not in text
    assert "Secret team-a/anthropic" in repr(bound)


def test_from_resource_builds_without_importing_sdk_client() -> None:
    """Binding a Model resolves the key and defers the SDK client to the first call."""
    resolver = secrets({("team-a", "anthropic", "api-key"): SECRET_VALUE})
    bound = AnthropicModel.from_resource(model(apiKeySecretRef={"name": "anthropic"}), resolver)
    assert bound.settings.model == "claude-sonnet-5-5"
    assert bound._client is None


def test_secret_ref_in_embedded_reads_the_baton_secret_variable() -> None:
    """Without a resolver, apiKeySecretRef reads BATON_SECRET_<NAME>_<KEY>, before the default."""
    environ = {"BATON_SECRET_ANTHROPIC_TEAM_API_KEY": "sk-secret", "ANTHROPIC_API_KEY": "sk-env"}
    resource = model(apiKeySecretRef={"name": "anthropic-team"})
    key = resolve_api_key(resource, None, environ=environ)
    assert key.value == "sk-secret"
    assert key.source == (
        "Secret team-a/anthropic-team key api-key "
        "(environment variable BATON_SECRET_ANTHROPIC_TEAM_API_KEY)"
    )


def test_missing_secret_in_embedded_names_both_variables() -> None:
    """Neither the Secret's variable nor apiKeyEnv set: the error names both, and the Secret."""
    resource = model(apiKeySecretRef={"name": "anthropic", "key": "token"}, apiKeyEnv="TEAM_KEY")
    with pytest.raises(PermanentError) as caught:
        resolve_api_key(resource, None, environ={})
    assert caught.value.message == (
        "no API key: set the environment variable BATON_SECRET_ANTHROPIC_TOKEN "
        "(Secret team-a/anthropic key token) or TEAM_KEY"
    )


def test_has_api_key_in_embedded_reads_the_secret_variable_or_api_key_env() -> None:
    """The embedded shape finds a key in BATON_SECRET_* or apiKeyEnv, and says so when not."""
    ref = {"name": "shared", "key": "token"}
    assert has_api_key(model(apiKeySecretRef=ref), {"BATON_SECRET_SHARED_TOKEN": "sk-shared"})
    assert has_api_key(model(apiKeyEnv="TEAM_KEY"), {"TEAM_KEY": "sk-team"})
    assert not has_api_key(model(apiKeySecretRef={"name": "other"}), {})
