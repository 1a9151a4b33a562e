"""Shared test set-up: every test process runs on CPU in fp32 through the one device switch."""

import os

import pytest

os.environ.setdefault("GLOG_v", "3")  # keep MindSpore's C++ logging quiet in test output


@pytest.fixture(scope="session", autouse=True)
def _device():
    from bert_ms.runtime import device

    return device.setup(target="CPU", mode="pynative", precision="fp32", seed=0, verbose=False)
