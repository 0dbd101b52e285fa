"""Shared fixtures: a private real engine per test session (single node and a 3-master
cluster, started on demand), the provider simulator per test module, the openai SDK client of a
module's own `gateway` fixture, and fakeredis for fast unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import openai
import pytest

from gateway.state.engine import ClusterEngines, Engine, start_cluster, start_single
from tests.procs import DEMO_KEY, Proc, sim_reset, start_simulator


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A real Valkey/Redis engine for the whole session, on a loopback port."""
    eng = start_single(tmp_path_factory.mktemp("engine"))
    yield eng
    eng.stop()


@pytest.fixture(scope="session")
def redis_url(engine: Engine) -> str:
    return engine.url


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterEngines]:
    """A real 3-master cluster, started only by tests that ask for it."""
    engines = start_cluster(3, tmp_path_factory.mktemp("cluster"))
    yield engines
    engines.stop()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The provider simulator, one per test module (a module may define its own)."""
    proc = start_simulator(tmp_path_factory.mktemp("sim"))
    yield proc
    proc.stop()


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> Iterator[openai.OpenAI]:
    """The openai SDK against the module's own `gateway` fixture with the demo key and no retries
    (a test sees every answer); the simulator's knobs are reset first."""
    sim_reset(sim)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
