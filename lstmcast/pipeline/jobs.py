"""What the CLI asks of the stages besides runs, so that it imports the pipeline alone: the distributed job around
a training run (launch, rank), the resume point of a run directory, the description of an exported graph."""

from __future__ import annotations

from lstmcast.checkpoint.export import describe
from lstmcast.training import distributed
from lstmcast.training import resume as resume_mod

load_point = resume_mod.load_point
describe_export = describe


def in_distributed_job() -> bool:
    """Whether this process is a worker of a distributed job (torchrun or train --nproc)."""
    return distributed.env_group().active


def is_main_process() -> bool:
    """Rank 0 of a distributed job, or a process that is not part of one."""
    return distributed.env_group().is_main


def launch(nproc: int, args: list[str]) -> int:
    """Run `lstmcast ARGS` as `nproc` local workers of one distributed job; their exit status."""
    return distributed.launch(nproc, args)
