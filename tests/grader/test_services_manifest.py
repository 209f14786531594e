"""[services] in assessment.toml: a package may ask for a fresh PostgreSQL beside its app; a service the
portal does not know, or a value that is not true or false, is refused with a sentence naming it.
Without the table nothing changes. Only the sandbox starts services, so the local runner refuses them."""

from pathlib import Path

import pytest

from grader.local import LocalRunner, ServicesNeedTheSandbox
from grader.manifest import KNOWN_KEYS, SERVICES, ManifestError, load_manifest
from grader.validate import validate
from tests.grader.tiny_package import tiny_package


def _with_services(package: Path, table: str) -> Path:
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text() + "\n" + table + "\n")
    return package


def test_a_package_without_services_has_none(tmp_path):
    assert load_manifest(tiny_package(tmp_path)).services == ()


def test_postgresql_is_declared_with_true(tmp_path):
    package = _with_services(tiny_package(tmp_path), "[services]\npostgresql = true")
    assert load_manifest(package).services == ("postgresql",)


def test_postgresql_false_is_no_service(tmp_path):
    package = _with_services(tiny_package(tmp_path), "[services]\npostgresql = false")
    assert load_manifest(package).services == ()


def test_redis_is_declared_with_true_and_services_come_in_a_fixed_order(tmp_path):
    package = _with_services(tiny_package(tmp_path), "[services]\nredis = true\npostgresql = true")
    assert load_manifest(package).services == ("postgresql", "redis")


def test_the_known_services_are_the_known_keys_of_the_table():
    assert KNOWN_KEYS["[services]"] == SERVICES == ("postgresql", "redis")
    assert "services" in KNOWN_KEYS[""]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[services]\nmemcached = true", "memcached: unknown service in [services]; the services it knows are "),
        ("[services]\npostgres = true", "postgres: unknown service in [services]; did you mean postgresql?"),
        ("[services]\npostgresql = true\nmysql = true", "mysql: unknown service in [services]; the services it knows"),
        ('[services]\npostgresql = "yes"', "[services]: 'postgresql' should be true or false, not 'yes'"),
        ("[services]\npostgresql = 15", "[services]: 'postgresql' should be true or false, not 15"),
        (
            "[services.postgresql]\nversion = 15",
            "[services]: 'postgresql' should be true or false, not {'version': 15}",
        ),
        ("[servics]\npostgresql = true", "servics: unknown table in assessment.toml; did you mean services?"),
    ],
)
def test_an_unknown_service_or_a_wrong_value_is_refused_by_name(tmp_path, table, message):
    package = _with_services(tiny_package(tmp_path), table)
    with pytest.raises(ManifestError) as refused:
        load_manifest(package)
    assert str(refused.value).startswith(message)


def test_services_as_a_value_instead_of_a_table_is_refused(tmp_path):
    package = tiny_package(tmp_path)
    manifest = package / "assessment.toml"
    manifest.write_text('services = "postgresql"\n' + manifest.read_text())
    with pytest.raises(ManifestError, match=r"'services' should be a table, such as \[services\] postgresql = true"):
        load_manifest(package)


def test_the_local_runner_refuses_a_package_with_services_and_names_the_sandbox(tmp_path):
    manifest = load_manifest(_with_services(tiny_package(tmp_path), "[services]\npostgresql = true"))
    with pytest.raises(ServicesNeedTheSandbox, match=r"declares \[services\] postgresql: .* validate_assessment"):
        LocalRunner(manifest)


def test_local_validation_of_a_package_with_services_stops_before_running_anything(tmp_path):
    package = _with_services(tiny_package(tmp_path), "[services]\npostgresql = true")
    with pytest.raises(ServicesNeedTheSandbox):
        validate(package)


def test_the_grader_command_says_so_instead_of_a_traceback(tmp_path, capsys):
    from grader.__main__ import main

    package = _with_services(tiny_package(tmp_path), "[services]\npostgresql = true")
    assert main(["--assessment", str(package), "validate"]) == 2
    assert "error: tiny declares [services] postgresql" in capsys.readouterr().err
