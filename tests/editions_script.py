"""``scripts/editions.py`` (the Chinese edition's builder) loaded once as a module, for the tests."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if "editions" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("editions", ROOT / "scripts" / "editions.py")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["editions"] = _module  # dataclasses look their module up
    _spec.loader.exec_module(_module)
editions = sys.modules["editions"]
