"""A `bedrock` provider's config: a Bedrock API key (bearer) or SigV4 credentials from the
environment, its region, and what other formats may not set."""

from __future__ import annotations

import pytest
import yaml

from gateway.config import ConfigError, parse_config
from tests.procs import config_yaml

BASE = "https://bedrock-runtime.eu-west-1.amazonaws.com"


def doc_with(provider: dict) -> dict:
    doc = yaml.safe_load(config_yaml(9100, "t"))
    doc["providers"]["aws"] = {"format": "bedrock", "base_url": BASE, **provider}
    doc["models"]["claude-br"] = {"provider": "aws", "upstream": "anthropic.claude-3-haiku-20240307-v1:0",
                                  "price": {"input": 0.25, "output": 1.25, "cached_input": 0.03}}
    return doc


def test_bearer_key_and_region_from_the_url() -> None:
    cfg = parse_config(doc_with({"api_key_env": "AWS_BEARER_TOKEN_BEDROCK"}), "c.yaml",
                       {"SIMULATOR_API_KEY": "k", "AWS_BEARER_TOKEN_BEDROCK": "brk"})
    provider = cfg.providers["aws"]
    assert provider.api_key == "brk" and provider.aws is not None
    assert provider.aws.region == "eu-west-1" and provider.aws.access_key_id is None


def test_sigv4_credentials_from_named_variables_never_in_repr() -> None:
    env = {"SIMULATOR_API_KEY": "k", "MY_AK": "AKIA1", "MY_SK": "secret-sk", "AWS_SESSION_TOKEN": "tok"}
    cfg = parse_config(doc_with({"api_key_env": None, "aws_region": "us-west-2", "aws_access_key_env": "MY_AK",
                                 "aws_secret_key_env": "MY_SK"}), "c.yaml", env)
    aws = cfg.providers["aws"].aws
    assert (aws.region, aws.access_key_id, aws.secret_access_key, aws.session_token) == \
        ("us-west-2", "AKIA1", "secret-sk", "tok")
    assert "secret-sk" not in repr(cfg.providers["aws"]) and "AKIA1" not in repr(aws)


def test_missing_credentials_name_the_variable_or_leave_an_optional_provider_out() -> None:
    doc = doc_with({"api_key_env": None})
    with pytest.raises(ConfigError, match="providers.aws.aws_access_key_env: environment variable is not set"):
        parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"})
    doc["providers"]["aws"]["optional"] = True
    cfg = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"})
    assert "aws" not in cfg.providers and "claude-br" not in cfg.deployments


def test_region_is_required_off_the_aws_host_and_aws_fields_only_for_bedrock() -> None:
    doc = doc_with({"api_key_env": None, "base_url": "http://127.0.0.1:9100"})
    with pytest.raises(ConfigError, match="providers.aws.aws_region"):
        parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"})
    doc = doc_with({"api_key_env": None})
    doc["providers"]["sim"]["aws_region"] = "us-east-1"
    with pytest.raises(ConfigError, match="providers.sim.aws_region: only a Bedrock provider"):
        parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"})


@pytest.mark.parametrize("fmt", ["bedrock", "bedrock_anthropic"])
def test_both_bedrock_formats_share_the_aws_settings(fmt: str) -> None:
    doc = doc_with({"api_key_env": None, "aws_region": "us-west-2"})
    doc["providers"]["aws"]["format"] = fmt
    cfg = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"})
    aws = cfg.providers["aws"].aws
    assert cfg.providers["aws"].format == fmt and (aws.region, aws.access_key_id, aws.secret_access_key) == \
        ("us-west-2", "a", "s")
    with pytest.raises(ConfigError, match="providers.aws.aws_access_key_env: environment variable is not set"):
        parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"})


def test_an_embedding_model_on_bedrock_is_accepted_but_not_on_bedrock_anthropic() -> None:
    doc = doc_with({"api_key_env": "AWS_BEARER_TOKEN_BEDROCK"})
    doc["models"]["titan"] = {"provider": "aws", "upstream": "amazon.titan-embed-text-v2:0", "kind": "embedding",
                              "price": {"input": 0.02}}
    env = {"SIMULATOR_API_KEY": "k", "AWS_BEARER_TOKEN_BEDROCK": "brk"}
    assert parse_config(doc, "c.yaml", env).deployments["titan"].kind == "embedding"
    doc["providers"]["aws"]["format"] = "bedrock_anthropic"
    with pytest.raises(ConfigError, match="models.titan.kind: .*Claude on Bedrock has no embeddings"):
        parse_config(doc, "c.yaml", env)
