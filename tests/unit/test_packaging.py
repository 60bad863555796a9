"""The code bundle: deterministic zip, cached dependencies, clear pip failures."""

import shutil
import zipfile

import pytest

from tapstack import paths
from tapstack.errors import TapStackError
from tapstack.stack import packaging


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real build (pip included) per module, in its own state folder."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAPSTACK_STATE_DIR", str(state))
        bundle = packaging.build_bundle()
    return state, bundle


@pytest.fixture
def state_dir(built, monkeypatch):
    """The state folder of the module's build, whose dependency cache is warm."""
    state, _ = built
    monkeypatch.setenv("TAPSTACK_STATE_DIR", str(state))
    return state


@pytest.fixture
def pip_forbidden(monkeypatch):
    """Make any pip run fail the test."""

    def forbidden(requirements, target):
        raise AssertionError(f"pip ran for {requirements}; the cache should have served it")

    monkeypatch.setattr(packaging, "_run_pip", forbidden)


@pytest.fixture
def handlers_copy(tmp_path):
    """A copy of the handlers package that a test may change."""
    copy = tmp_path / "handlers"
    shutil.copytree(paths.HANDLERS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_build_bundle_twice_gives_same_sha256_without_pip(built, state_dir, pip_forbidden):
    _, first = built

    second = packaging.build_bundle()

    assert second.sha256 == first.sha256
    assert second.path == first.path
    assert second.size == first.size == first.path.stat().st_size
    assert packaging._digest(second.path.read_bytes()) == second.sha256


def test_bundle_holds_handlers_and_dependencies_without_bytecode(built):
    _, bundle = built

    with zipfile.ZipFile(bundle.path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]

    assert names == sorted(names)
    assert "handlers/process_webhook.py" in names
    assert "handlers/check_alerts.py" in names
    assert "aws_lambda_powertools/__init__.py" in names
    assert "jmespath/__init__.py" in names
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    assert "handlers/README.md" not in names
    assert "handlers/requirements.txt" not in names
    assert not [name for name in names if name.startswith(("bin/", "tests/"))]
    assert {info.date_time for info in infos} == {packaging.ZIP_TIMESTAMP}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_bundle_in_another_output_dir_is_byte_identical(built, state_dir, pip_forbidden, tmp_path):
    _, first = built

    other = packaging.build_bundle(tmp_path / "out")

    assert other.path.parent == tmp_path / "out"
    assert other.path.read_bytes() == first.path.read_bytes()


def test_changed_handler_code_changes_sha256(built, state_dir, pip_forbidden, handlers_copy):
    _, first = built
    (handlers_copy / "extra.py").write_text('"""Changed code."""\n')

    changed = packaging.build_bundle(handlers_dir=handlers_copy)

    assert changed.sha256 != first.sha256
    with zipfile.ZipFile(changed.path) as archive:
        assert "handlers/extra.py" in archive.namelist()


def test_changed_requirements_change_the_cache_key(handlers_copy):
    requirements = handlers_copy / "requirements.txt"
    before = packaging.dependencies_key(requirements)

    requirements.write_text(requirements.read_text() + "# a comment\n")

    assert packaging.dependencies_key(requirements) != before


def test_pip_failure_raises_packaging_error_with_pip_output(handlers_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("TAPSTACK_STATE_DIR", str(tmp_path / "state"))
    (handlers_copy / "requirements.txt").write_text("this is not a requirement !!!\n")

    with pytest.raises(packaging.PackagingError) as raised:
        packaging.build_bundle(handlers_dir=handlers_copy)

    message = str(raised.value)
    assert isinstance(raised.value, TapStackError)
    assert "pip install of" in message
    assert "exit code" in message
    assert "this is not a requirement" in message
    assert not list((tmp_path / "state" / "build").glob("deps-*"))
