#!/usr/bin/env python3
"""sisr against PyTorch on the same networks and the same work, on this machine's CPU.

    python3 bench/compare.py --python /path/to/venv/bin/python [--rounds 3 --runs 3 --threads N]

For each case, R rounds alternate one `sisr bench --json` run and one bench/torch_bench.py
run (sisr, torch, sisr, torch, ...), so that slow drifts of the machine (thermal state,
other load) fall on both sides alike. Besides fp32, inference cases also run sisr with
`--precision bf16` and PyTorch under bf16 autocast, in the same rounds. Each run reports the median of --runs timed runs after
one warm-up; a case's figure is the median of its rounds' figures.

Standard library only: PyTorch is needed only by the interpreter given with --python. When
it cannot import torch, only sisr's figures are reported.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TORCH_BENCH = BENCH_DIR / "torch_bench.py"


def network_s(report):
    return report["inference"][0]["network_s"]


def train_s(report):
    return report["train_step"]["median_s"]


# case -> (model, scale, `sisr bench` arguments, where its figure is in sisr's JSON).
# Inference: `network_s` is the network forward alone (`--network-only` skips sisr's timing
# of its whole upscale path). Training: batch and patch as torch_bench.py's;
# the loss and optimizer are sisr's paper recipe (MSE for DCSCN, L1 for DRN and DRFN, GLRL's
# SGD with Euclidean loss and adjustable clipping), as on the PyTorch side.
CASES = {
    "dcscn-x2-infer-256x256": ("dcscn", 2, ["--size", "256x256", "--no-train", "--network-only"], network_s),
    "dcscn-x2-infer-1280x720": ("dcscn", 2, ["--size", "1280x720", "--no-train", "--network-only"], network_s),
    "dcscn-x2-train": ("dcscn", 2, ["--no-infer", "--batch", "64", "--patch", "32"], train_s),
    "drn-x2-infer-256x256": ("drn", 2, ["--size", "256x256", "--no-train", "--network-only"], network_s),
    "drn-x2-train": ("drn", 2, ["--no-infer", "--batch", "16", "--patch", "48"], train_s),
    # GLRL's patch is on the HR grid (its input is the bicubic upscale); its scale changes nothing.
    "glrl-train": ("glrl", 3, ["--no-infer", "--batch", "32", "--patch", "31"], train_s),
    "drfn-5m-x4-train": ("drfn-5m", 4, ["--no-infer", "--batch", "8", "--patch", "32"], train_s),
    # 128x128 LR input, so a 512x512 output at x4 (sisr's --size is the output size).
    "drfn-x4-infer-128x128": ("drfn", 4, ["--size", "512x512", "--no-train", "--network-only"], network_s),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd, env=None):
    """Runs `cmd` and parses its stdout as JSON; raises RuntimeError with its stderr on failure."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as e:
        raise RuntimeError(f"cannot run {cmd[0]}: {e}") from e
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {proc.returncode}:\n{tail}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: output is not JSON ({e}):\n{proc.stdout[-2000:]}") from e


def text_of(cmd):
    """stdout of a short command, or None when it cannot be run."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def torch_version(python):
    """PyTorch's version under `python`, or (None, why not)."""
    try:
        proc = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"exit status {proc.returncode}"
    return proc.stdout.strip(), None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(args, sisr_version, torch_ver, sisr_backend):
    commit = text_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = text_of(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": args.threads,
        "os": platform.platform(),
        "sisr": sisr_version or "unknown",
        "sisr_commit": (commit + ("+dirty" if dirty else "")) if commit else None,
        "sisr_backend": sisr_backend or args.backend,
        "torch": torch_ver,
        "python": args.python,
        "rounds": args.rounds,
        "runs": args.runs,
        "baseline": args.baseline,
    }


def fmt_s(v):
    if v is None:
        return "n/a"
    return f"{v:.4f}" if v < 10 else f"{v:.2f}"


def fmt_ratio(v):
    return f"{v:.2f}×" if v is not None else "n/a"


def parse_args():
    ap = argparse.ArgumentParser(description="Times sisr and PyTorch on the same networks, interleaved.")
    ap.add_argument("--sisr", default=str(REPO / "target" / "release" / "sisr"), help="sisr binary (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable, help="Python interpreter with torch installed (default: %(default)s)")
    ap.add_argument("--backend", default="flex", help="sisr compute backend, passed to `sisr bench --backend` (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating sisr/PyTorch rounds per case (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per round and side, after one warm-up (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="compute threads of both sides (default: %(default)s)")
    ap.add_argument("--cases", nargs="+", metavar="CASE", help=f"subset of the cases, by name or comma-separated (all: {', '.join(CASES)})")
    ap.add_argument("--json", metavar="FILE", help="also write every figure and the machine facts to FILE")
    ap.add_argument("--baseline", metavar="SISR", help="an earlier sisr build, timed in the same rounds (column \"sisr before\")")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 columns (PyTorch's autocast, sisr's --precision bf16)")
    args = ap.parse_args()
    if args.rounds < 1 or args.runs < 1 or args.threads < 1:
        ap.error("--rounds, --runs and --threads must be at least 1")
    if args.cases:
        args.cases = [c for item in args.cases for c in item.split(",") if c]
        unknown = [c for c in args.cases if c not in CASES]
        if unknown:
            ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    else:
        args.cases = list(CASES)
    return args


def main():
    args = parse_args()
    sisr = pathlib.Path(args.sisr)
    if not (sisr.is_file() and os.access(sisr, os.X_OK)):
        log(f"error: no sisr executable at {sisr} (build it with `cargo build --release` or pass --sisr)")
        return 2

    backend_args = ["--backend", args.backend]

    torch_ver, why = torch_version(args.python)
    if torch_ver is None:
        log(f"warning: PyTorch cannot be imported by {args.python} ({why}).\n"
            f"  Install it into a virtual environment (pip install torch==2.9.0) and pass\n"
            f"  --python /path/to/venv/bin/python. Reporting sisr's figures only.")

    # `sisr --version` prints "sisr 0.1.0".
    sisr_version = (text_of([str(sisr), "--version"]) or "").removeprefix("sisr ").strip() or None
    # Both sides get the same thread count. OMP/MKL variables also bind a libtorch-based
    # sisr backend; PyTorch itself is set by torch_bench.py's torch.set_num_threads.
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    results = []
    sisr_params_cache = {}
    sisr_backend = None
    for case in args.cases:
        model, scale, case_args, figure = CASES[case]
        if (model, scale) not in sisr_params_cache:
            try:
                info = run_json([str(sisr), "info", "--model", model, "--scale", str(scale), "--json"])
                sisr_params_cache[(model, scale)] = info["params"]
            except RuntimeError as e:
                log(f"warning: {e}")
                sisr_params_cache[(model, scale)] = None
        bench_args = ["bench", "--model", model, "--scale", str(scale), *case_args,
                      "--runs", str(args.runs), "--jobs", str(args.threads), "--json", *backend_args]
        torch_cmd = [args.python, str(TORCH_BENCH), "--case", case, "--threads", str(args.threads),
                     "--runs", str(args.runs), "--json"]
        # side -> (command, the figure of its report); interleaved in this order every round.
        sides = {"sisr": ([str(sisr), *bench_args], figure)}
        if args.bf16 and figure is network_s:
            # sisr's reduced precision is for inference (training runs f32).
            sides["sisr_bf16"] = ([str(sisr), *bench_args, "--precision", "bf16"], figure)
        if args.baseline:
            sides["before"] = ([args.baseline, *bench_args], figure)
        if torch_ver is not None:
            sides["torch"] = (torch_cmd, lambda rep: rep["median_s"])
            if args.bf16:
                sides["torch_bf16"] = ([*torch_cmd, "--autocast", "bf16"], lambda rep: rep["median_s"])

        entry = {"case": case, "sisr_params": sisr_params_cache[(model, scale)], "torch_params": None,
                 "rounds": {side: [] for side in sides}, "reports": {side: [] for side in sides}, "errors": []}
        failed = set()
        for r in range(1, args.rounds + 1):
            line = f"[{case}] round {r}/{args.rounds}:"
            for side, (cmd, fig) in sides.items():
                if side in failed:
                    continue
                try:
                    rep = run_json(cmd, env)
                    entry["reports"][side].append(rep)
                    entry["rounds"][side].append(fig(rep))
                    if side == "sisr":
                        sisr_backend = rep.get("backend", sisr_backend)
                    if side == "torch":
                        entry["torch_params"] = rep["params"]
                    line += f" {side} {fmt_s(entry['rounds'][side][-1])} s"
                except (RuntimeError, KeyError, IndexError, TypeError) as e:
                    # A failure would repeat: the rest of the case's rounds skip this side.
                    failed.add(side)
                    entry["errors"].append(f"{side}: {e}")
                    log(f"error: [{case}] {side}: {e}")
            log(line)

        entry["seconds"] = {side: statistics.median(v) if v else None for side, v in entry["rounds"].items()}
        mine = entry["seconds"]["sisr"]
        # Each peer's time / sisr's: > 1, sisr is faster.
        entry["speed"] = {side: (v / mine if v and mine else None) for side, v in entry["seconds"].items() if side in COLUMNS}
        if "sisr_bf16" in sides:
            bf16 = entry["seconds"]["sisr_bf16"]
            reports = entry["reports"]["sisr_bf16"]
            entry["sisr_bf16"] = {
                # sisr f32 time / sisr bf16 time, and PyTorch bf16-autocast time / sisr bf16 time.
                "speedup_over_f32": mine / bf16 if mine and bf16 else None,
                "vs_torch_bf16": entry["seconds"].get("torch_bf16") / bf16 if bf16 and entry["seconds"].get("torch_bf16") else None,
                "emulated": reports[0].get("emulated") if reports else None,
            }
        sp, tp = entry["sisr_params"], entry["torch_params"]
        entry["params_match"] = None if sp is None or tp is None else sp == tp
        results.append(entry)

    facts = machine_facts(args, sisr_version, torch_ver, sisr_backend)
    print_report(facts, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": facts, "cases": results}, f, indent=2)
            f.write("\n")
        log(f"wrote {args.json}")
    return 1 if any(e["errors"] for e in results) else 0


COLUMNS = {"before": "sisr before", "torch": "PyTorch fp32", "torch_bf16": "PyTorch bf16 autocast"}


def print_report(facts, results):
    print(f"- date: {facts['date']}")
    print(f"- CPU: {facts['cpu']} ({facts['logical_cpus']} logical CPUs), {facts['threads']} threads per side")
    print(f"- OS: {facts['os']}")
    commit = f" ({facts['sisr_commit']})" if facts["sisr_commit"] else ""
    print(f"- sisr: {facts['sisr']}{commit}, backend {facts['sisr_backend']}")
    if facts.get("baseline"):
        print(f"- sisr before: {facts['baseline']}")
    print(f"- PyTorch: {facts['torch'] or 'not available'}")
    print(f"- {facts['rounds']} interleaved rounds per case, each the median of {facts['runs']} timed runs after a warm-up; "
          f"figures are the median over rounds, in seconds")
    print()
    peers = [side for side in COLUMNS if any(side in e["seconds"] for e in results)]
    head = " | ".join(f"{COLUMNS[p]} s | vs {COLUMNS[p]}" for p in peers)
    print(f"| case | sisr s | {head} | params match |")
    print("|---|---:|" + "---:|---:|" * len(peers) + "---|")
    for e in results:
        cells = []
        for p in peers:
            cells += [fmt_s(e["seconds"].get(p)), fmt_ratio(e["speed"].get(p))]
        if e["params_match"] is None:
            params = f"n/a (sisr {e['sisr_params']:,})" if e["sisr_params"] is not None else "n/a"
        elif e["params_match"]:
            params = f"yes ({e['sisr_params']:,})"
        else:
            params = f"NO (sisr {e['sisr_params']:,}, PyTorch {e['torch_params']:,})"
        print(f"| {e['case']} | {fmt_s(e['seconds']['sisr'])} | {' | '.join(cells)} | {params} |")
    print()
    print("vs X = X's time / sisr's time (> 1: sisr is faster). Inference is the network forward alone "
          "(batch 1); training is one step (forward, loss, backward, optimizer update). sisr runs fp32.")
    bf16_rows = [e for e in results if e.get("sisr_bf16")]
    if bf16_rows:
        print()
        print("| case | sisr f32 s | sisr bf16 s | bf16 / f32 speed | PyTorch bf16 autocast s | sisr bf16 vs PyTorch bf16 |")
        print("|---|---:|---:|---:|---:|---:|")
        for e in bf16_rows:
            b = e["sisr_bf16"]
            emulated = " (emulated)" if b["emulated"] else ""
            print(f"| {e['case']} | {fmt_s(e['seconds']['sisr'])} | {fmt_s(e['seconds']['sisr_bf16'])}{emulated} | "
                  f"{fmt_ratio(b['speedup_over_f32'])} | {fmt_s(e['seconds'].get('torch_bf16'))} | {fmt_ratio(b['vs_torch_bf16'])} |")
        print()
        print("sisr bf16 = `sisr bench --precision bf16`: the feature-map convolutions on bf16 operands with f32 "
              "accumulation, on AMX or AVX512-BF16 where the CPU has them (emulated: rounded f32 data at f32's speed).")


if __name__ == "__main__":
    sys.exit(main())
