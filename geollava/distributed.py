"""The end of a multi-process run (training under DeepSpeed or torchrun, evaluation under torchrun)."""
from __future__ import annotations

import logging
import os
import sys

import torch


def end_process_group() -> None:
    """Every rank waits for rank 0's last write, then the process group is torn down."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def exit_after_success() -> None:
    """End a finished rank of a multi-process run at once, skipping the interpreter's teardown.

    Measured here (torch 2.13 CPU, DeepSpeed 0.19.8, 2 gloo processes): now and then a rank whose work is done
    and saved aborts during that teardown ("terminate called without an active exception", SIGABRT), even after
    the process group is destroyed, and the launcher then fails the whole run. Everything the run writes is
    written and flushed before this point, so nothing is lost by not tearing down.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        end_process_group()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
