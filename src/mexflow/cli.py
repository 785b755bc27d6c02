"""The `mexflow` command line.

    mexflow magnify INPUT -m evm -m learned=results/magnifiers/generic.pt --alpha 10 -o out/

INPUT is a video file or a folder of frames (read in natural numeric order: img2 before img10).
Each method writes `out/{label}.mp4`; all of them (and the original) are drawn side by side in
`out/comparison.png`. With --frames-out DIR, every clip is also written as lossless PNG frames
DIR/{label}/00000.png, 00001.png, ...
Methods: `evm` (Eulerian, --fps for its temporal filter), `lagrangian` (frame 0 moved by alpha x
the estimated flow 0 -> i), `learned=CHECKPOINT` (a checkpoint trained by the workflow, the
shipped resources/magnifiers/generic.pt, or a published FlowMag checkpoint), `tta=CHECKPOINT`
(the same after test-time adaptation to this video: its frames moved by generated motion).
Every checkpoint is loaded and checked before any frame is read. Errors are reported on one
line (`mexflow: error: ...`, exit status 2); --debug (or MEXFLOW_DEBUG=1) shows tracebacks.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

EXIT_ERROR = 2          # an expected error (bad input, bad checkpoint, unwritable output); as argparse's
EXIT_BUG = 1            # an unexpected exception (a bug): a traceback with --debug


@dataclass(frozen=True)
class Method:
    """One -m argument: its output label, its kind (a key of METHOD_KINDS) and its argument."""
    label: str
    kind: str
    arg: str | None = None


@dataclass
class Context:
    """What the methods of one `magnify` run share."""
    args: argparse.Namespace
    device: Any
    log: logging.Logger
    fps: float | None = None            # set once the frames are read


@dataclass(frozen=True)
class MethodKind:
    """A kind of -m method.

    arg: name of the `kind=ARG` argument (None: the kind takes none). prepare(method, ctx): load
    and validate everything the method needs (checkpoints, ...) before any frame is read; its
    result is passed to run(method, prepared, frames, ctx) -> magnified frames, same shape.
    """
    arg: str | None
    prepare: Callable[[Method, Context], Any]
    run: Callable[[Method, Any, Any, Context], Any]
    help: str


# ----------------------------------------------------------------------------- evm
def _prepare_evm(method: Method, ctx: Context):
    from mexflow.magnify.evm import EVMParams

    if Path(ctx.args.input).is_dir() and ctx.args.fps is None:
        raise ValueError(f"{ctx.args.input}: {method.label} needs the frame rate of a frame folder: pass --fps")
    return EVMParams(alpha=ctx.args.alpha)


def _run_evm(method: Method, params, frames, ctx: Context):
    from mexflow.magnify.evm import magnify_evm

    if ctx.fps is None:
        raise ValueError(f"{ctx.args.input}: the video has no frame rate; {method.label} needs --fps")
    return magnify_evm(frames, params, fps=ctx.fps)


# ----------------------------------------------------------------------------- learned, tta
def load_checked_generator(path, device):
    """The FlowMag generator of checkpoint `path` on `device`; FileNotFoundError / ValueError
    naming the file when it is missing or is not a generator checkpoint."""
    from mexflow.magnify.generator import FlowMagGenerator, load_generator

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    from mexflow.checkpoints import CheckpointError

    try:
        generator = load_generator(path, device=device)
    except CheckpointError as e:  # unreadable or unsafe file: its own one-line reason
        raise ValueError(f"{path}: not a FlowMag generator checkpoint ({e.problem})") from e
    except Exception as e:      # state-dict errors of any kind: a bad file
        raise ValueError(f"{path}: not a FlowMag generator checkpoint ({_load_error(e)})") from e
    if not isinstance(generator, FlowMagGenerator):
        raise ValueError(f"{path}: not a FlowMag generator checkpoint (got {type(generator).__name__})")
    return generator


def _load_error(e: Exception) -> str:
    """The gist of a checkpoint loading error on one line."""
    text = str(e)
    if type(e).__name__ == "UnpicklingError" and "WeightsUnpickler error:" in text:
        # torch's weights-only refusal: its advice (weights_only=False) is wrong for a corrupt file
        # and unsafe for an untrusted one; keep the reason only.
        reason = " ".join(text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0].split())
        return f"torch.load(weights_only=True) refuses it: {reason or 'unreadable'}"
    text = " ".join(text.split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _prepare_learned(method: Method, ctx: Context):
    return load_checked_generator(method.arg, ctx.device)


def _run_learned(method: Method, generator, frames, ctx: Context):
    from mexflow.magnify.generator import magnify_clip

    return magnify_clip(generator, frames, ctx.args.alpha, batch_size=ctx.args.batch_size, device=ctx.device)


def _prepare_tta(method: Method, ctx: Context):
    from mexflow.magnify.train import TrainSpec

    # The workflow's flowmag_tta recipe: the video's own frames moved by generated motion.
    spec = TrainSpec.from_dict({"steps": ctx.args.tta_steps, "batch_size": 4, "crop": 64, "lr": 1e-4,
                                "objective": "generated", "bn_batches": 10, "log_every": 10 ** 9})
    return load_checked_generator(method.arg, ctx.device), spec, None


def _prepare_lagrangian(method: Method, ctx: Context):
    return None


def _run_lagrangian(method: Method, _, frames, ctx: Context):
    from mexflow.magnify.conditions import lagrangian_magnify

    return lagrangian_magnify(frames, ctx.args.alpha)


def _run_tta(method: Method, prepared, frames, ctx: Context):
    from mexflow.magnify.generator import magnify_clip
    from mexflow.magnify.train import adapt_to_clip

    generator, spec, supervisor = prepared
    adapted = adapt_to_clip(generator, frames, spec, supervisor, ctx.device)   # a copy
    return magnify_clip(adapted, frames, ctx.args.alpha, batch_size=ctx.args.batch_size, device=ctx.device)


# The -m kinds: `NAME` or `NAME=ARG`. A new kind is one entry here (label: NAME, or NAME_{stem of ARG}).
METHOD_KINDS: dict[str, MethodKind] = {
    "evm": MethodKind(None, _prepare_evm, _run_evm, "Eulerian video magnification"),
    "learned": MethodKind("CHECKPOINT", _prepare_learned, _run_learned, "a FlowMag generator checkpoint"),
    "tta": MethodKind("CHECKPOINT", _prepare_tta, _run_tta,
                      "the checkpoint adapted to this video first (--tta-steps)"),
    "lagrangian": MethodKind(None, _prepare_lagrangian, _run_lagrangian,
                             "frame 0 moved by alpha x the DIS flow 0 -> i (non-learned reference)"),
}


def _method_usage() -> str:
    return ", ".join(f"{k}={v.arg}" if v.arg else k for k, v in METHOD_KINDS.items())


def _parse_method(text: str) -> Method:
    """'evm' | 'learned=PATH' | 'tta=PATH' | any kind of METHOD_KINDS -> Method."""
    name, eq, arg = text.partition("=")
    kind = METHOD_KINDS.get(name)
    if kind is not None and (bool(arg) if kind.arg else not eq):
        label = f"{name}_{Path(arg).stem}" if kind.arg else name
        return Method(label, name, arg or None)
    raise argparse.ArgumentTypeError(f"method {text!r}: use {_method_usage()}")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


# ----------------------------------------------------------------------------- magnify
def magnify_command(args: argparse.Namespace) -> int:
    from mexflow.devices import select_device

    log = logging.getLogger("mexflow.magnify")
    labels = [m.label for m in args.method]
    twice = sorted({x for x in labels if labels.count(x) > 1} | ({"original"} & set(labels)))
    if twice:
        raise ValueError(f"two methods would write the same output {', '.join(twice)}: "
                         "give the checkpoints different file names")
    if not Path(args.input).exists():
        raise FileNotFoundError(f"{args.input}: no such video file or frame folder")
    ctx = Context(args, select_device(args.device), log)
    # Everything that can be checked before the work is: checkpoints load, settings are complete.
    prepared = {m.label: METHOD_KINDS[m.kind].prepare(m, ctx) for m in args.method}

    from mexflow.magnify.figures import save_comparison_figure
    from mexflow.magnify.video import read_frames, write_frames, write_video

    frames, video_fps = read_frames(args.input, size=args.size, max_frames=args.max_frames)
    ctx.fps = args.fps or video_fps
    log.info("%s: %d frames %dx%d, %s fps", args.input, len(frames), frames.shape[2], frames.shape[1], ctx.fps)
    out = Path(args.output)
    frames_out = Path(args.frames_out) if args.frames_out else None
    if frames_out is not None:
        write_frames(frames_out / "original", frames)
    results = {"original": frames}
    for m in args.method:
        results[m.label] = METHOD_KINDS[m.kind].run(m, prepared[m.label], frames, ctx)
        write_video(out / f"{m.label}.mp4", results[m.label], ctx.fps or 30.0)
        log.info("wrote %s", out / f"{m.label}.mp4")
        if frames_out is not None:
            write_frames(frames_out / m.label, results[m.label])
            log.info("wrote %s/", frames_out / m.label)
    frame = save_comparison_figure(results, out / "comparison.png",
                                   title=f"{Path(args.input).name}, alpha {args.alpha:g}")
    log.info("wrote %s (frame %d)", out / "comparison.png", frame)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mexflow", description="Facial micro-expression analysis tools.")
    debug = dict(action="store_true", default=argparse.SUPPRESS,
                 help="show the traceback of an error (also MEXFLOW_DEBUG=1)")
    parser.add_argument("--debug", **debug)
    sub = parser.add_subparsers(dest="command", required=True)
    mag = sub.add_parser("magnify", help="magnify a video file or a frame folder",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mag.add_argument("input", help="video file or folder of frames")
    mag.add_argument("-m", "--method", action="append", type=_parse_method, required=True,
                     help=f"{' | '.join(_method_usage().split(', '))} (repeatable)")
    mag.add_argument("-a", "--alpha", type=_positive, default=10.0, help="magnification factor (default 10)")
    mag.add_argument("-o", "--output", default="magnified", help="output folder (default ./magnified)")
    mag.add_argument("--frames-out", metavar="DIR",
                     help="also write every clip as lossless PNG frames DIR/{label}/00000.png, ...")
    mag.add_argument("--fps", type=_positive, help="frame rate (default: the video's)")
    mag.add_argument("--size", type=_positive_int, help="resize the shorter side to this many px first")
    mag.add_argument("--max-frames", type=_positive_int, help="read at most this many frames")
    mag.add_argument("--batch-size", type=_positive_int, default=8)
    mag.add_argument("--tta-steps", type=_positive_int, default=20, help="adaptation steps for tta=")
    mag.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    mag.add_argument("--debug", **debug)
    mag.set_defaults(func=magnify_command)
    return parser


def _one_line(e: BaseException) -> str:
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status. Usage errors exit through argparse (2);
    expected errors print `mexflow: error: MESSAGE` on stderr and return 2; any other exception
    returns 1 with a one-line message, or is raised (traceback) with --debug / MEXFLOW_DEBUG=1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("MEXFLOW_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except SystemExit as e:
        if debug or e.code is None or isinstance(e.code, int):
            raise
        print(f"mexflow: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        if debug:
            raise
        print(f"mexflow: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:
        if debug:
            raise
        print(f"mexflow: error: {type(e).__name__}: {_one_line(e)} (a bug? rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
