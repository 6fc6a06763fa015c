"""Configuration of the tokenaudit ComfyUI extension.

Sources, later ones winning: built-in defaults; a JSON (or, on Python >= 3.11, TOML) file named by
`TOKENAUDIT_COMFYUI_CONFIG`, else `tokenaudit.json` / `tokenaudit.toml` in this package's
directory when present; then environment variables `TOKENAUDIT_COMFYUI_<KEY>` (upper case), e.g.
`TOKENAUDIT_COMFYUI_URL`. Every key is listed in `DEFAULTS` and in README.md. Unknown keys in the
file, and values of the wrong type, are errors (`ConfigError`): a misspelt key must not silently
leave a default in place.
"""

import json
import os

ENV_PREFIX = "TOKENAUDIT_COMFYUI_"

DEFAULTS = {
    "enabled": True,
    "url": "http://127.0.0.1:8080",
    "api_key": "",
    "api_key_file": "",
    # Part of the idempotency key. The gateway's default `gateway.source`, so that a prompt sent
    # through the gateway and recorded by both producers is stored once (README, "With the
    # gateway"). `capture` tells the producers apart.
    "source": "comfyui-gateway",
    "tenant": "",
    "spool_dir": "",            # "": <ComfyUI user directory>/tokenaudit-spool
    "max_memory_bytes": 8 << 20,
    "max_spool_bytes": 256 << 20,
    "batch_records": 500,
    "flush_interval_ms": 200,
    "request_timeout_ms": 10000,
    "max_backoff_ms": 30000,
    "shutdown_drain_ms": 2000,
    "node_catalog": "",         # the gateway's catalog TOML (or the same as JSON)
    "record_unknown_nodes": True,
    "user_header": "comfy-user",
    "user_extra_data_key": "tokenaudit_user",
    "workflow_extra_data_key": "tokenaudit_workflow",
    "default_user": "",
    "max_hash_bytes": 256 << 20,
    "gateway_client_id_prefix": "tokenaudit-gw-",
    "gateway_prompts": "backstop",  # backstop | record | skip
    "gateway_backstop_delay_s": 60,
    "node_hook": "auto",        # auto | execute | messages
}

_CHOICES = {"gateway_prompts": ("backstop", "record", "skip"),
            "node_hook": ("auto", "execute", "messages")}


class ConfigError(ValueError):
    pass


def _coerce(key, value, origin):
    default = DEFAULTS[key]
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError("%s: %s must be true or false" % (origin, key))
    if isinstance(default, int):
        if isinstance(value, bool):
            raise ConfigError("%s: %s must be an integer" % (origin, key))
        if isinstance(value, int):
            result = value
        elif isinstance(value, str) and value.strip().isdigit():
            result = int(value.strip())
        else:
            raise ConfigError("%s: %s must be an integer" % (origin, key))
        if result < 0:
            raise ConfigError("%s: %s must not be negative" % (origin, key))
        return result
    if not isinstance(value, str):
        raise ConfigError("%s: %s must be a string" % (origin, key))
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError("%s: %s must be one of %s" % (origin, key, ", ".join(_CHOICES[key])))
    return value


def _read_file(path):
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8")
    if path.endswith(".toml"):
        import tomllib  # Python >= 3.11
        return tomllib.loads(raw)
    return json.loads(raw)


def load(environ=None, package_dir=None):
    """The effective configuration as a dict (keys of DEFAULTS), `api_key_file` already read into
    `api_key`. Raises ConfigError (or OSError for an unreadable file)."""
    environ = os.environ if environ is None else environ
    package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))
    cfg = dict(DEFAULTS)
    path = environ.get(ENV_PREFIX + "CONFIG", "")
    if not path:
        for name in ("tokenaudit.json", "tokenaudit.toml"):
            candidate = os.path.join(package_dir, name)
            if os.path.exists(candidate):
                path = candidate
                break
    if path:
        data = _read_file(path)
        if not isinstance(data, dict):
            raise ConfigError(path + ": not an object")
        for key, value in data.items():
            if key not in DEFAULTS:
                raise ConfigError("%s: unknown key %s" % (path, key))
            cfg[key] = _coerce(key, value, path)
    for key in DEFAULTS:
        env = ENV_PREFIX + key.upper()
        if env in environ:
            cfg[key] = _coerce(key, environ[env], env)
    if not cfg["api_key"] and cfg["api_key_file"]:
        with open(cfg["api_key_file"], "r", encoding="utf-8") as f:
            cfg["api_key"] = f.read().strip()
    return cfg
