import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_thread_torch():
    # Small CPU convolutions run many times slower with two OpenMP threads on a loaded 2-core box.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
