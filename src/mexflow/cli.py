"""The `mexflow` command line.

    mexflow magnify INPUT -m evm -m learned=results/magnifiers/generic.pt --alpha 10 -o out/

INPUT is a video file or a folder of frames. Each method writes `out/{label}.mp4`; all of them
(and the original) are drawn side by side in `out/comparison.png`.
Methods: `evm` (Eulerian, --fps for its temporal filter), `learned=CHECKPOINT` (a checkpoint
trained by the workflow or a published FlowMag checkpoint), `tta=CHECKPOINT` (the same with
test-time adaptation to this video, using the built-in flow supervisor).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _parse_method(text: str) -> tuple[str, str, str | None]:
    """'evm' | 'learned=PATH' | 'tta=PATH' -> (label, kind, checkpoint)."""
    kind, _, path = text.partition("=")
    if kind == "evm" and not path:
        return "evm", "evm", None
    if kind in ("learned", "tta") and path:
        return f"{kind}_{Path(path).stem}", kind, path
    raise argparse.ArgumentTypeError(f"method {text!r}: use evm, learned=CHECKPOINT or tta=CHECKPOINT")


def magnify_command(args: argparse.Namespace) -> int:
    from mexflow.devices import select_device
    from mexflow.magnify.conditions import ConditionSpec, evm_magnifier, learned_magnifier
    from mexflow.magnify.evm import EVMParams
    from mexflow.magnify.figures import save_comparison_figure
    from mexflow.magnify.generator import load_generator
    from mexflow.magnify.supervisors import make_supervisor
    from mexflow.magnify.video import read_frames, write_video

    log = logging.getLogger("mexflow.magnify")
    frames, video_fps = read_frames(args.input, size=args.size, max_frames=args.max_frames)
    fps = args.fps or video_fps
    log.info("%s: %d frames %dx%d, %s fps", args.input, len(frames), frames.shape[2], frames.shape[1], fps)
    out = Path(args.output)
    results = {"original": frames}
    device = select_device(args.device)
    for label, kind, checkpoint in args.method:
        if kind == "evm":
            if fps is None:
                raise SystemExit("evm needs the frame rate: pass --fps for a frame folder")
            spec = ConditionSpec(label, "evm", args.alpha, evm=EVMParams(alpha=args.alpha))
            results[label] = evm_magnifier(spec)(frames, fps)
        else:
            generator = load_generator(checkpoint, device=device)
            tta = {"steps": args.tta_steps, "batch_size": 4, "crop": 64} if kind == "tta" else None
            spec = ConditionSpec(label, "learned", args.alpha, model=checkpoint, tta=tta)
            sup = make_supervisor({"kind": "lk"}) if tta else None
            run = learned_magnifier(spec, generator, args.batch_size, device, sup, log)
            results[label], _ = run(label, frames, frames[:2])
        write_video(out / f"{label}.mp4", results[label], fps or 30.0)
        log.info("wrote %s", out / f"{label}.mp4")
    frame = save_comparison_figure(results, out / "comparison.png", title=f"{Path(args.input).name}, alpha {args.alpha:g}")
    log.info("wrote %s (frame %d)", out / "comparison.png", frame)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mexflow", description="Facial micro-expression analysis tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    mag = sub.add_parser("magnify", help="magnify a video file or a frame folder",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mag.add_argument("input", help="video file or folder of frames")
    mag.add_argument("-m", "--method", action="append", type=_parse_method, required=True,
                     help="evm | learned=CHECKPOINT | tta=CHECKPOINT (repeatable)")
    mag.add_argument("-a", "--alpha", type=float, default=10.0, help="magnification factor (default 10)")
    mag.add_argument("-o", "--output", default="magnified", help="output folder (default ./magnified)")
    mag.add_argument("--fps", type=float, help="frame rate (default: the video's)")
    mag.add_argument("--size", type=int, help="resize the shorter side to this many px first")
    mag.add_argument("--max-frames", type=int, help="read at most this many frames")
    mag.add_argument("--batch-size", type=int, default=8)
    mag.add_argument("--tta-steps", type=int, default=20, help="adaptation steps for tta=")
    mag.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    mag.set_defaults(func=magnify_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
