"""The deploy files against the real entry points.

Every command in ``Procfile``, ``docker-compose.yml`` and the ``Dockerfile`` is parsed by
the parser of the program it names (gunicorn's, ``cli._parser()``, rq's click command) and
then checked against this project: the gunicorn app string builds the app, the config file
names only real gunicorn settings, ``audit-trail`` subcommands exist, the RQ queue is
``collector.jobs.QUEUE``. The compose file is checked for what operating it relies on:
Redis persistence, health-gated start, a worker that scales with ``--scale``.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import fakeredis
import pytest
import yaml
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser
from gunicorn.config import Config as GunicornConfig
from helpers import event

import cli
from collector import jobs
from collector.connection import is_cluster_url
from collector.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_CLUSTER = ROOT / "docker-compose.cluster.yml"
PROCFILE = ROOT / "Procfile"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
APP = "api:create_app()"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# What a process sees when the file gives it no REDIS_URL of its own (Procfile, Dockerfile).
PLATFORM_ENV = {"REDIS_URL": "redis://localhost:6379/0", "PORT": "8000"}
# Outer variables that would change what gunicorn or rq does in a subprocess.
SCRUBBED = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS")


# ----------------------------------------------------------------------------- parsing


def interpolate(value: Any, env: Mapping[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$VAR``, ``$$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, default = match.group("op"), match.group("default") or ""
        if name in env and not (op == ":-" and env[name] == ""):
            return env[name]
        return default if op else ""

    pattern = r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>\w+)"
    return re.sub(pattern, sub, str(value))


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


def service_env(service: dict[str, Any], outer: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container environment with variables from the shell (none by default) filled in."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: interpolate("" if v is None else v, outer or {}) for k, v in raw.items()}


def command_argv(command: str | list[str], env: Mapping[str, str]) -> list[str]:
    if isinstance(command, list):
        return [interpolate(part, env) for part in command]
    return shlex.split(interpolate(command, env))


def load_procfile() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep and re.fullmatch(r"[A-Za-z0-9_-]+", name), f"bad Procfile line {line!r}"
        assert name not in entries, f"process type {name!r} twice in the Procfile"
        entries[name] = command.strip()
    return entries


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, read by dockerfile-parse (comments dropped)."""
    parsed = DockerfileParser(path=str(DOCKERFILE)).structure
    return [(i["instruction"], i["value"]) for i in parsed if i["instruction"] != "COMMENT"]


def settings_variables() -> set[str]:
    """The environment variables ``Settings.from_env`` reads (recorded, not listed by hand)."""
    seen: set[str] = set()

    class Recorder(dict):
        def get(self, key: str, default: Any = None) -> Any:
            seen.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> Any:
            seen.add(key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            seen.add(str(key))
            return super().__contains__(key)

    Settings.from_env(Recorder({"AUDIT_RETENTION_DAYS": "30"}))
    return seen


# ---------------------------------------------------------------------- command checks


def gunicorn_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("AUDIT_")}
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def check_gunicorn(argv: list[str], env: Mapping[str, str]) -> None:
    """Parse with gunicorn's own parser, build the app in-process, then ``--check-config``."""
    assert argv[0] == "gunicorn"
    options = GunicornConfig().parser().parse_args(argv[1:])
    assert options.config, f"{argv}: no --config, the measured settings would be ignored"
    assert (ROOT / options.config).resolve() == GUNICORN_CONF.resolve()
    assert len(options.args) == 1, f"{argv}: expected exactly one app string"
    module_name, _, expression = options.args[0].partition(":")
    call = ast.parse(expression, mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name), expression
    assert not call.args and not call.keywords, f"{expression}: the factory reads the environment"
    factory = getattr(importlib.import_module(module_name), call.func.id)
    assert callable(factory)

    app = factory(Settings(auth=False), fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    accepted = client.post("/v1/events", json=event(id="deploy-check"))
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    assert accepted.get_json()["id"] == "deploy-check"

    # The real gunicorn: loads the config file, then imports and calls the app string.
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", *argv[1:]],
        cwd=ROOT,
        env=gunicorn_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"gunicorn --check-config {argv[1:]}:\n{done.stderr}"


def check_audit_trail(argv: list[str], env: Mapping[str, str]) -> None:
    assert argv[0] == "audit-trail"
    module_name, _, attr = PYPROJECT["project"]["scripts"]["audit-trail"].partition(":")
    assert getattr(importlib.import_module(module_name), attr) is cli.main
    try:
        args = cli._parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{shlex.join(argv)}: not accepted by cli._parser()")
    assert args.command == argv[1]
    Settings.from_env(env)  # the environment it would run with is valid
    assert env.get("REDIS_URL"), f"{shlex.join(argv)} needs REDIS_URL"


def check_rq(argv: list[str], env: Mapping[str, str]) -> None:
    import rq.cli.workers  # noqa: F401  (registers the worker command)
    from rq.cli.cli import main as rq_main
    from rq.utils import import_attribute

    assert argv[:2] == ["rq", "worker"], argv
    context = rq_main.commands["worker"].make_context("worker", argv[2:])
    assert tuple(context.params["queues"]) == (jobs.QUEUE,), context.params["queues"]
    url = context.params.get("url") or env.get("RQ_REDIS_URL")
    queue_url = env.get("AUDIT_RQ_REDIS_URL") or env.get("REDIS_URL")
    assert url == queue_url, f"rq reads {url!r}, the app enqueues on {queue_url!r}"
    assert not is_cluster_url(str(url)), "RQ cannot keep its queue on a Redis Cluster"
    assert import_attribute("collector.jobs.ingest") is jobs.ingest
    Settings.from_env(env)  # collector.jobs.ingest reads its settings from the environment


def check_command(argv: list[str], env: Mapping[str, str]) -> None:
    checks = {"gunicorn": check_gunicorn, "audit-trail": check_audit_trail, "rq": check_rq}
    assert argv and argv[0] in checks, f"unknown program in {argv}"
    checks[argv[0]](argv, env)


def cluster_services() -> dict[str, dict[str, Any]]:
    """The services of docker-compose.yml with docker-compose.cluster.yml laid over it, as
    ``docker compose -f docker-compose.yml -f docker-compose.cluster.yml`` merges them:
    mappings (environment, depends_on) key by key, anything else replaced."""
    merged = {name: dict(service) for name, service in services().items()}
    override = yaml.safe_load(COMPOSE_CLUSTER.read_text())["services"]
    for name, service in override.items():
        base = merged.setdefault(name, {})
        for key, value in service.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
    return merged


# ------------------------------------------------------------------------------ Procfile


def test_procfile_has_web_and_worker():
    entries = load_procfile()
    assert {"web", "worker"} <= entries.keys()
    assert shlex.split(entries["web"])[0] == "gunicorn"
    assert shlex.split(entries["worker"])[:2] == ["audit-trail", "worker"]


@pytest.mark.parametrize("name", sorted(load_procfile()))
def test_procfile_command_runs_a_real_entry_point(name):
    command = load_procfile()[name]
    check_command(command_argv(command, PLATFORM_ENV), PLATFORM_ENV)


# ------------------------------------------------------------------------ compose file


def test_compose_has_the_services():
    assert {"redis", "api", "worker", "rq-worker"} <= services().keys()


def test_redis_persists_append_only_to_a_volume_and_has_a_healthcheck():
    compose = load_compose()
    redis_svc = compose["services"]["redis"]
    assert str(redis_svc["image"]).split(":")[0] == "redis"
    assert str(redis_svc["image"]).split(":")[1].split(".")[0] == "7"
    argv = command_argv(redis_svc["command"], {})
    assert argv[0] == "redis-server"
    assert "--appendonly" in argv and argv[argv.index("--appendonly") + 1] == "yes"
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in redis_svc["volumes"]}
    assert "/data" in mounts, "the append-only file lives in /data"
    assert mounts["/data"] in (compose.get("volumes") or {}), "use a named volume"
    test = redis_svc["healthcheck"]["test"]
    assert "redis-cli" in " ".join(test) and "ping" in " ".join(test)


@pytest.mark.parametrize("name", ["worker", "rq-worker"])
def test_workers_scale(name):
    service = services()[name]
    for fixed in ("container_name", "ports", "hostname"):
        assert fixed not in service, f"{name}: {fixed} prevents `docker compose up --scale`"


@pytest.mark.parametrize("name", ["api", "worker", "rq-worker"])
def test_app_services_use_the_redis_service_and_wait_for_it(name):
    all_services = services()
    service = all_services[name]
    url = urlparse(service_env(service)["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in all_services and url.hostname == "redis"
    assert url.port in (None, 6379)
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert service.get("build") in (".", {"context": "."}), f"{name} runs this project's image"


def test_compose_sets_exactly_the_products_variables():
    read = {name for name in settings_variables() if name.startswith("AUDIT_")}
    assert {"AUDIT_AUTH", "AUDIT_MAX_BACKLOG", "AUDIT_STREAM_PARTITIONS"} <= read
    for name in ("api", "worker", "rq-worker"):
        env = service_env(services()[name])
        given = {key for key in env if key.startswith("AUDIT_")}
        assert given == read, f"{name}: missing {read - given}, unknown {given - read}"
        settings = Settings.from_env(env)
        assert settings.auth_required, f"{name}: API keys must be on by default in production"


def test_compose_variables_can_be_set_from_the_shell():
    shell = {"AUDIT_MAX_BACKLOG": "5000", "AUDIT_RETENTION_DAYS": "90"}
    settings = Settings.from_env(service_env(services()["worker"], shell))
    assert settings.max_backlog == 5000 and settings.retention_days == 90


@pytest.mark.parametrize("name", ["api", "worker", "rq-worker"])
def test_compose_command_runs_a_real_entry_point(name):
    service = services()[name]
    env = service_env(service)
    check_command(command_argv(service["command"], env), env)


def test_api_listens_on_the_published_port():
    service = services()["api"]
    env = service_env(service)
    published = {str(p).rsplit(":", 1)[-1] for p in service["ports"]}
    config = load_gunicorn_conf(env)
    assert config["bind"] == [f"0.0.0.0:{env['PORT']}"]
    assert env["PORT"] in published
    assert "readyz" in " ".join(service["healthcheck"]["test"])


def test_api_gets_time_for_a_graceful_stop():
    seconds = re.fullmatch(r"(\d+)s", str(services()["api"]["stop_grace_period"]))
    assert seconds, "stop_grace_period in seconds, e.g. 30s"
    assert int(seconds.group(1)) > load_gunicorn_conf({})["graceful_timeout"]


def test_compose_defaults_for_gunicorn_match_the_config_file():
    """WEB_CONCURRENCY='' would crash gunicorn (it int()s it at import): defaults must be real."""
    env = service_env(services()["api"])
    defaults = load_gunicorn_conf({})
    for variable, setting in (("WEB_CONCURRENCY", "workers"), ("GUNICORN_THREADS", "threads")):
        if variable in env:
            assert env[variable] == str(defaults[setting]), variable


# ------------------------------------------------------------------------- gunicorn.conf


def load_gunicorn_conf(env: Mapping[str, str], everything: bool = False) -> dict[str, Any]:
    """Run the config file as gunicorn does, with exactly ``env`` for the variables it reads;
    returns its settings (with ``everything``, every name it defines)."""
    saved = dict(os.environ)
    try:
        for key in (*SCRUBBED, "PORT", "GUNICORN_TIMEOUT", "GUNICORN_ACCESS_LOG"):
            os.environ.pop(key, None)
        os.environ.update(env)
        namespace = runpy.run_path(str(GUNICORN_CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if everything:
        return namespace
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_")
        and not isinstance(value, ModuleType)
        and not callable(value)
        and key not in __future__.all_feature_names
    }


def test_gunicorn_conf_names_only_real_settings_with_valid_values():
    """Gunicorn silently ignores unknown names in a config file, so check them here."""
    values = load_gunicorn_conf({})
    cfg = GunicornConfig()
    unknown = sorted(set(values) - set(cfg.settings))
    assert not unknown, f"not gunicorn settings: {unknown}"
    for key, value in values.items():
        cfg.set(key, value)  # gunicorn's validators
    assert cfg.worker_class_str in ("gevent", "gthread", "sync")
    assert cfg.worker_class is not None  # the class imports


def test_gunicorn_conf_defaults():
    values = load_gunicorn_conf({})
    assert values["bind"] == ["0.0.0.0:8000"]
    assert values["accesslog"] is None
    assert values["workers"] >= 1 and values["threads"] >= 1
    # slow clients cost a greenlet each, not a thread (benchmarks/slow_clients.py)
    assert values["worker_class"] == "gevent" and values["worker_connections"] >= 500
    assert values["timeout"] >= 10 and 0 < values["graceful_timeout"] <= values["timeout"]
    assert "keepalive" in values


def test_gunicorn_conf_environment_overrides():
    values = load_gunicorn_conf(
        {
            "PORT": "9123",
            "WEB_CONCURRENCY": "3",
            "GUNICORN_THREADS": "7",
            "GUNICORN_WORKER_CLASS": "sync",
            "GUNICORN_ACCESS_LOG": "-",
        }
    )
    assert values["bind"] == ["0.0.0.0:9123"]
    assert (values["workers"], values["threads"], values["worker_class"]) == (3, 7, "sync")
    assert values["accesslog"] == "-"


@pytest.mark.parametrize("access_log", [None, "-"])
def test_gunicorn_builds_access_lines_only_when_an_access_log_is_set(access_log):
    """gunicorn's own logger builds every access line whenever logconfig_dict is set (and
    the quiet access logger drops it): the config's logger class builds none unless asked."""
    conf = load_gunicorn_conf({"GUNICORN_ACCESS_LOG": access_log or ""}, everything=True)
    cfg = GunicornConfig()
    for key in ("accesslog", "logconfig_dict", "logger_class"):
        cfg.set(key, conf[key])
    # not through __init__: its setup would apply logconfig_dict to this test process
    logger = cfg.logger_class.__new__(cfg.logger_class)
    built: list[object] = []
    logger.cfg, logger.access_log = cfg, SimpleNamespace(info=lambda *args: built.append(args))
    logger.atoms = lambda *args: {}
    logger.access(None, None, {}, None)
    assert logger.access_log_enabled is (access_log is not None)
    assert len(built) == (1 if access_log else 0)


def test_gunicorn_conf_docstring_lists_every_variable_it_reads():
    source = GUNICORN_CONF.read_text()
    read = set(re.findall(r"""(?:_int\(|environ\.get\()\s*["'](\w+)["']""", source))
    documented = set(re.findall(r"``([A-Z_]+)``", ast.get_docstring(ast.parse(source)) or ""))
    assert {"PORT", "GUNICORN_KEEPALIVE"} <= read
    assert read <= documented, f"not in the docstring: {sorted(read - documented)}"


@pytest.mark.parametrize("variable", ["WEB_CONCURRENCY", "GUNICORN_THREADS", "PORT"])
def test_gunicorn_conf_rejects_a_bad_number(variable):
    with pytest.raises(SystemExit, match=variable):
        load_gunicorn_conf({variable: "many"})


def test_gunicorn_check_fails_without_redis_url():
    """The --check-config probe used above can fail: no REDIS_URL, no app."""
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", GUNICORN_CONF.name, APP],
        cwd=ROOT,
        env=gunicorn_env({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "REDIS_URL" in done.stderr


# ---------------------------------------------------------------------------- Dockerfile


def copied_sources() -> Iterator[tuple[list[str], str]]:
    for keyword, rest in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            yield parts[:-1], parts[-1]


def test_dockerfile_base_user_and_install():
    instructions = dockerfile_instructions()
    keywords = [k for k, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    workdir = [rest for k, rest in instructions if k == "WORKDIR"]
    assert workdir, "WORKDIR sets where gunicorn.conf.py and the app string resolve"
    installs = [
        i
        for i, (k, rest) in enumerate(instructions)
        if k == "RUN" and re.search(r"\bpip install\b[^&;|]*\s\.(\s|$)", rest)
    ]
    assert installs, "RUN pip install . (the project, from pyproject.toml)"
    users = [i for i, k in enumerate(keywords) if k == "USER"]
    assert users and users[-1] > installs[0], "switch to a non-root user after installing"
    user = instructions[users[-1]][1].split(":")[0]
    assert user not in ("root", "0")
    copies_before_install = [
        src
        for i, (k, rest) in enumerate(instructions)
        if k == "COPY" and i < installs[0]
        for src in [p for p in shlex.split(rest) if not p.startswith("--")][:-1]
    ]
    needed = {"pyproject.toml", *PYPROJECT["tool"]["setuptools"]["packages"]}
    if isinstance(PYPROJECT["project"].get("readme"), str):
        needed.add(PYPROJECT["project"]["readme"])
    missing = needed - {src.rstrip("/") for src in copies_before_install}
    assert not missing, f"not copied before `pip install .`: {sorted(missing)}"


def test_dockerfile_copies_the_gunicorn_config_and_nothing_it_ignores():
    sources = [src.rstrip("/") for group, _ in copied_sources() for src in group]
    assert "gunicorn.conf.py" in sources
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # the build context as Docker's own SDK computes it from .dockerignore
    context = exclude_paths(str(ROOT), patterns)
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context"
        assert src in context, f".dockerignore drops {src}, which the Dockerfile copies"
    for junk in (".venv", ".git"):
        assert junk in patterns, f".dockerignore should exclude {junk}"


def test_dockerfile_cmd_runs_a_real_entry_point():
    cmds = [rest for k, rest in dockerfile_instructions() if k == "CMD"]
    assert cmds, "a default CMD"
    argv = json.loads(cmds[-1])  # exec form: gunicorn is PID 1 and receives SIGTERM
    assert isinstance(argv, list)
    check_command(argv, PLATFORM_ENV)


# -------------------------------------------------------------- the cluster compose file

CLUSTER_NODES = [f"redis-node-{i}" for i in range(1, 7)]


@pytest.mark.parametrize("name", CLUSTER_NODES)
def test_cluster_nodes_are_cluster_enabled_with_aof_on_a_volume(name):
    node = cluster_services()[name]
    [shell, flag, script] = command_argv(node["command"], {})
    assert (shell, flag) == ("sh", "-c")
    argv = shlex.split(script)
    assert argv[:2] == ["exec", "redis-server"]
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert options["--cluster-enabled"] == "yes"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] in ("always", "everysec")
    assert node["hostname"] == name, "the node announces the name others reach it by"
    assert [str(v).split(":")[1] for v in node["volumes"]] == ["/data"]
    assert "ping" in " ".join(node["healthcheck"]["test"])


def test_the_cluster_is_three_masters_with_a_replica_each():
    init = cluster_services()["redis-cluster-init"]
    script = command_argv(init["command"], {})[2]
    for name in CLUSTER_NODES:
        assert name in script
        assert init["depends_on"][name]["condition"] == "service_healthy"
    assert "--cluster create" in script and "--cluster-replicas 1" in script
    assert "--cluster-yes" in script


@pytest.mark.parametrize("name", ["api", "worker", "rq-worker"])
def test_on_the_cluster_the_app_stores_there_and_queues_on_a_single_redis(name):
    all_services = cluster_services()
    service = all_services[name]
    env = service_env(service)
    settings = Settings.from_env(env)
    assert settings.redis_url and is_cluster_url(settings.redis_url)
    assert urlparse(settings.redis_url).hostname in CLUSTER_NODES
    assert settings.rq_redis_url and urlparse(settings.rq_redis_url).hostname == "redis"
    assert settings.partitions == 12, "four partitions per master"
    assert service["depends_on"]["redis-cluster-init"]["condition"] == (
        "service_completed_successfully"
    )
    argv = command_argv(service["command"], env)
    if argv[0] == "gunicorn":
        # the app would reach for the cluster at once; its command is the one checked above
        assert argv == command_argv(services()[name]["command"], env)
    else:
        check_command(argv, env)
