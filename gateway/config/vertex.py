"""A Google Vertex AI provider's own fields: `project`, `location` and how it signs in.

Vertex takes an OAuth access token (`Authorization: Bearer`), either one the operator hands over in
`api_key_env` (e.g. `gcloud auth print-access-token`, short-lived: the operator renews it) or one the
gateway gets itself: from a service-account key file (`credentials_file`, or the
GOOGLE_APPLICATION_CREDENTIALS variable when neither is set), or with `metadata_server: true` from
the metadata server of the machine or pod it runs on (GKE workload identity, Compute Engine, Cloud
Run: no key to keep; `GCE_METADATA_HOST` overrides the host, as for Google's own libraries). The
file is checked here, so `gateway check-config` names a missing or wrong one; its private key is
read again by the refresher (gateway/net/google_auth.py), never kept in the config.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.config.model import LeftOut, Vertex
from gateway.config.reader import Reader

VERTEX_FIELDS = {"project", "location", "credentials_file", "metadata_server"}
METADATA_HOST = "metadata.google.internal"
SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")
_LOCATION = re.compile(r"^[a-z0-9-]+$")


def default_base_url(location: str) -> str:
    """Vertex's regional host; the `global` location has one host without a region."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def read_service_account(path: str) -> dict[str, Any]:
    """The key file's fields; ValueError naming what is wrong (never the key itself)."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ValueError("it is not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "service_account":
        raise ValueError('expected a service-account key file ("type": "service_account")')
    missing = [f for f in SERVICE_ACCOUNT_FIELDS if not isinstance(doc.get(f), str) or not doc[f]]
    if missing:
        raise ValueError(f"the key file lacks {', '.join(missing)}")
    return doc


def parse_vertex(r: Reader, doc: dict[str, Any], path: str, fmt: str, env: dict[str, str],
                 need_keys: bool = True, optional: bool = False) -> Vertex | None:
    """The Vertex fields of a `vertex_*` provider (None for other formats, which may not have them).
    `need_keys=False` (the CLI reading a config): no sign-in is required nor its key file read.
    An `optional` provider with no way to sign in (no token variable, no key file, no
    GOOGLE_APPLICATION_CREDENTIALS) is left out (LeftOut)."""
    if not fmt.startswith("vertex_"):
        extra = sorted(VERTEX_FIELDS & set(doc))
        if extra:
            raise r.fail(f"{path}.{extra[0]}", doc[extra[0]], "only for the vertex_* formats")
        return None
    project = r.string(doc, "project", path)
    location = r.string(doc, "location", path)
    if not _LOCATION.match(location):
        raise r.fail(f"{path}.location", location, "expected a Vertex location such as us-central1 or global")
    if doc.get("metadata_server") is not None:
        metadata = doc["metadata_server"]
        if not isinstance(metadata, bool):
            raise r.fail(f"{path}.metadata_server", metadata, "expected true or false")
        if metadata:
            other = next((f for f in ("api_key_env", "credentials_file") if doc.get(f) is not None), None)
            if other:
                raise r.fail(f"{path}.{other}", doc[other], "give one way to sign in: metadata_server, "
                             "api_key_env (an access token) or credentials_file")
            return Vertex(project=project, location=location,
                          metadata_host=env.get("GCE_METADATA_HOST") or env.get("GCE_METADATA_ROOT") or METADATA_HOST)
    creds = doc.get("credentials_file")
    if creds is not None and doc.get("api_key_env") is not None:
        raise r.fail(f"{path}.credentials_file", creds, "give api_key_env (an access token) or credentials_file, "
                     "not both")
    if creds is None and doc.get("api_key_env") is None:
        creds = env.get("GOOGLE_APPLICATION_CREDENTIALS") or None
        if creds is None and need_keys and optional:
            raise LeftOut("GOOGLE_APPLICATION_CREDENTIALS")
        if creds is None and need_keys:
            raise r.fail(f"{path}.api_key_env", None, "Vertex needs api_key_env (an access token), "
                         "credentials_file (a service-account key; GOOGLE_APPLICATION_CREDENTIALS also works) or "
                         "metadata_server: true (the machine's or pod's service account)")
    if creds is not None:
        if not isinstance(creds, str) or not creds:
            raise r.fail(f"{path}.credentials_file", creds, "expected the path of a service-account key file")
        try:
            if need_keys:
                read_service_account(creds)
        except ValueError as exc:
            raise r.fail(f"{path}.credentials_file", creds, str(exc)) from None
    return Vertex(project=project, location=location, credentials_file=creds)
