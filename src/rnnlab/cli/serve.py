"""`rnnlab serve BUNDLE`: the studio (web page + HTTP API) for one trained model, under uvicorn."""
from __future__ import annotations

import argparse
import errno
import gc
import ipaddress
import os
import socket
import sys

from rnnlab.cli.predict import add_runtime_argument
from rnnlab.errors import UserError

MAX_DEFAULT_THREADS = 4  # the most torch threads `rnnlab serve` picks by itself (default_threads)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", metavar="BUNDLE", help="a model bundle directory (from rnnlab train or rnnlab demo), "
                        "or an export directory (rnnlab export BUNDLE OUT) to serve with --runtime onnx")
    add_runtime_argument(parser)  # onnx: an export directory, served without /trace
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 exposes it "
                             "to the network: there is no authentication)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests addressed to NAME (the Host header, any port), e.g. the "
                             "machine's name when serving on 0.0.0.0; repeatable. Answered by default: "
                             "127.0.0.1, localhost, [::1] and --host; anything else gets 400, so a web page "
                             "cannot reach the studio by DNS rebinding")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads of each model call (default: fitted to the machine: one CPU "
                             f"left to the server's own work, at most torch's default and {MAX_DEFAULT_THREADS}; "
                             "1 on a 2-core machine)")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="most /predict requests answered by one model call (default: 32; 1: no batching)")
    parser.add_argument("--batch-wait-ms", type=float, default=None,
                        help="how long a /predict request waits for others to join its batch, in milliseconds "
                             "(default: 2; 0: take what is queued when the model is free)")
    parser.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default: 16384)")
    parser.add_argument("--max-chars", type=int, default=None, help="longest input text in characters (default: 2000)")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="longest input in tokens, as the task counts them (default: 256)")
    parser.add_argument("--max-audio-bytes", type=int, default=None,
                        help="largest file uploaded to /upload (a recording, a file of inputs; default: 20 MiB)")
    parser.add_argument("--max-audio-seconds", type=float, default=None,
                        help="longest recording uploaded to /upload, in seconds (default: 60)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def default_threads() -> int:
    """The torch intra-op threads `rnnlab serve` uses unless --threads is given.

    One CPU is left to the server itself: parsing, limits and JSON encoding run in Python between model
    calls (under the interpreter lock), and a model call running on every CPU would take it from them. At
    most torch's own default (physical cores, or OMP_NUM_THREADS when set): hyper-threads add nothing to
    matrix products. At most MAX_DEFAULT_THREADS: a model call is a batch of at most --max-batch short
    sequences, and each recurrent step is a small (B, H) x (H, 4H) product that is a synchronisation point
    of every thread, so splitting it more ways costs more than it saves (an estimate, not measured here:
    raise --threads for large models on large machines). The CPUs counted are those this process may run on
    (its affinity: a container's cpuset), not every CPU of the host."""
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, torch.get_num_threads(), MAX_DEFAULT_THREADS))


def is_loopback(host: str) -> bool:
    """True if `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (socket.gaierror, ValueError):
            return False


def run(args: argparse.Namespace) -> int:
    import torch
    import uvicorn

    from rnnlab.studio.batching import Batching
    from rnnlab.studio.server import LOOPBACK_HOSTS, Limits, create_app, host_name

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: give a TCP port between 1 and 65535")
    defaults = Limits()
    limits = Limits(**{name: value if value is not None else getattr(defaults, name)
                       for name, value in (("max_body_bytes", args.max_body_bytes), ("max_chars", args.max_chars),
                                           ("max_tokens", args.max_tokens),
                                           ("max_audio_bytes", getattr(args, "max_audio_bytes", None)),
                                           ("max_audio_seconds", getattr(args, "max_audio_seconds", None)))})
    if min(limits.max_body_bytes, limits.max_chars, limits.max_tokens, limits.max_audio_bytes) < 1:
        raise UserError("--max-body-bytes, --max-chars, --max-tokens and --max-audio-bytes must be at least 1")
    if not limits.max_audio_seconds > 0:
        raise UserError(f"--max-audio-seconds must be more than 0, got {limits.max_audio_seconds:g}")
    threads = default_threads() if args.threads is None else args.threads
    if threads < 1:
        raise UserError(f"--threads {threads}: give at least 1")
    batch_defaults = Batching()
    max_batch = batch_defaults.max_batch if args.max_batch is None else args.max_batch
    wait_ms = batch_defaults.wait_ms if args.batch_wait_ms is None else args.batch_wait_ms
    if max_batch < 1:
        raise UserError(f"--max-batch {max_batch}: give at least 1 (1: no batching)")
    if not 0 <= wait_ms <= 1000:
        raise UserError(f"--batch-wait-ms {wait_ms:g}: give 0 to 1000 milliseconds")
    batching = Batching(max_batch=max_batch, wait_ms=wait_ms)
    extra = [host_name(name) for name in args.allow_host]
    if "" in extra:
        raise UserError("--allow-host needs a host name, e.g. --allow-host studio.example.org")
    torch.set_num_threads(threads)
    allowed = (*LOOPBACK_HOSTS, host_name(args.host), *extra)
    # loads the bundle (or the export) once: a BundleError is one line, exit 1
    app = create_app(args.bundle, limits, allowed, batching, runtime=args.runtime)
    # after loading (which can take a while: the port should still be free when uvicorn binds it) and
    # before the banner: a busy port is one line, not a banner that says "page http://..." then an error
    check_port(args.host, args.port)
    if not is_loopback(args.host):
        sys.stderr.write(f"warning: listening on {args.host}, reachable from other machines; the studio has no "
                         "authentication: anyone who can reach this port can use the model (clients must "
                         "address it by a name it answers: add the machine's with --allow-host NAME)\n")
    print(f"rnnlab studio: {app.state.served.task.name} model from {args.bundle}\n"
          f"  page  http://{_url_host(args.host)}:{args.port}/\n"
          f"  API   http://{_url_host(args.host)}:{args.port}/docs\n"
          f"  {threads} torch thread{'s' if threads > 1 else ''}; /predict batched: up to {max_batch} requests, "
          f"{wait_ms:g} ms wait", flush=True)
    # Everything loaded so far (torch, the model, FastAPI's app) lives as long as the server: moved out of the
    # garbage collector's reach, so its full collections, triggered by the dicts each answer allocates, scan
    # only what requests made (a full scan of the loaded heap stalled every request in flight for 100-200 ms)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def check_port(host: str, port: int) -> None:
    """Bind (host, port) the way uvicorn will, then let go; a UserError saying why if that fails.

    A tiny race remains (another process can take the port before uvicorn binds it), which uvicorn
    then reports itself; this catches the common case: a studio or other server already there."""
    where = f"{_url_host(host)}:{port}"
    sock = None
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        # as uvicorn does: a port only in TIME_WAIT (a server that just stopped) is free to take
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except socket.gaierror:
        raise UserError(f"--host {host}: no such host name or address on this machine") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"{where} is in use (another server, or a studio already running?): "
                            "choose another with --port") from None
        if e.errno == errno.EACCES:
            raise UserError(f"cannot listen on {where}: permission denied (ports below 1024 need privileges); "
                            "choose another with --port") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"cannot listen on {where}: {host} is not an address of this machine; "
                            "check --host") from None
        raise UserError(f"cannot listen on {where}: {e.strerror or e}") from None
    finally:
        if sock is not None:
            sock.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
