"""A kernel client that does not sleep after the kernel is ready.

jupyter_client's ``wait_for_ready`` ends by draining the IOPub channel until
it has been silent for 0.2 s: a fixed 0.2 s per kernel, i.e. per graded
notebook.  nbclient ignores IOPub messages that do not belong to the cell it
runs, so a short drain is enough.  Everything else (the kernel_info handshake
and the check that IOPub is connected) is unchanged.

Used by the grader's workers through
``AsyncKernelManager.client_factory = "grader.sandbox.kernelclient.FastKernelClient"``.
"""
from __future__ import annotations

import time
from queue import Empty

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import channel_socket_types
from jupyter_client.utils import ensure_async

DRAIN_SECONDS = 0.01
#: Largest message (bytes) the worker accepts from a kernel: ZeroMQ drops a
#: larger one (and the connection it came on) before it is held in memory.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class FastKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` with a 10 ms final IOPub drain instead of 200 ms."""

    async def _fast_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    # IOPub must be connected: the kernel's status messages show it
                    try:
                        await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=DRAIN_SECONDS))
            except Empty:
                break

    wait_for_ready = _fast_wait_for_ready

    def _create_connected_socket(self, channel: str, identity: bytes | None = None):
        """jupyter_client's socket, with a cap on the size of what the kernel may send."""
        url = self._make_url(channel)
        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if identity:
            sock.identity = identity
        sock.connect(url)
        return sock


def fast_kernel_waits() -> None:
    """Poll for a kernel's exit every few milliseconds instead of every 100 ms.

    jupyter_client waits for a shut-down kernel process by sleeping 0.1 s
    between checks (``KernelManager._async_wait``, ``LocalProvisioner.wait``),
    so every graded notebook paid ~0.1 s after its kernel had already exited.
    Same checks, shorter first sleeps (5 ms doubling up to 100 ms).  Applied
    in the grader's worker processes only.
    """
    import asyncio

    from jupyter_client.manager import KernelManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    if getattr(KernelManager, "_grader_fast_waits", False):
        return
    original_provisioner_wait = LocalProvisioner.wait

    async def manager_wait(self, pollinterval: float = 0.1) -> None:
        delay = 0.005
        while await self._async_is_alive():
            await asyncio.sleep(delay)
            delay = min(delay * 2, pollinterval)

    async def provisioner_wait(self):
        delay = 0.005
        while self.process is not None and await self.poll() is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return await original_provisioner_wait(self)

    KernelManager._async_wait = manager_wait
    LocalProvisioner.wait = provisioner_wait
    KernelManager._grader_fast_waits = True
