from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data"


def load_script(name: str):
    """scripts/NAME.py imported as a module (the scripts folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The repository's own test data (tests/data/README.md). Missing data is a broken checkout: fail."""
    if not (TEST_DATA / "README.md").is_file():
        pytest.fail(f"test data missing at {TEST_DATA}: the checkout is incomplete")
    return TEST_DATA


@pytest.fixture
def tf():
    """A factory-fresh, empty Blender scene with the add-on registered (unregistered afterwards)."""
    import bpy

    import addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    yield bpy.context.scene
    addon.unregister()
