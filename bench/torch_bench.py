"""Times one benchmark case on the PyTorch twins of the sisr networks (bench/torch_models.py).

    python bench/torch_bench.py --case dcscn-x2-train --threads 8 --runs 5 --json

Each case does the same work as the matching `sisr bench` figure (crates/sisr/src/bench.rs):
  *-infer-WxH  one forward pass of a batch of one image, fp32, under torch.inference_mode();
               for DCSCN the bicubic upscale is a precomputed input tensor, as in sisr's
               `time_forward` (WxH is the output size except for drfn, see CASES)
  *-train      one training step on a fixed synthetic batch: zero_grad, forward, loss,
               backward, Adam step, with the loss and optimizer settings of sisr's paper
               recipe (crates/sisr/src/train/recipe.rs)
One untimed warm-up run, then --runs timed runs; median and minimum are reported. The
median is the upper one for an even count, as sisr's `time_runs` takes it.
"""

import argparse
import contextlib
import json
import sys
import time

import torch
import torch.nn.functional as F

import torch_models

# case -> what to run. Sizes are (width, height); `lr` is the network input.
CASES = {
    "dcscn-x2-infer-256x256": dict(model="dcscn", mode="infer", lr=(128, 128)),
    "dcscn-x2-infer-1280x720": dict(model="dcscn", mode="infer", lr=(640, 360)),
    "dcscn-x2-train": dict(model="dcscn", mode="train", batch=64, patch=32),
    "drn-x2-infer-256x256": dict(model="drn", mode="infer", lr=(128, 128)),
    "drn-x2-train": dict(model="drn", mode="train", batch=16, patch=48),
    # The model zoo's training runs: GLRL's 31×31 HR patches (paper batch 32), DRFN-5m's
    # short CPU recipe (batch 8 of 32×32 LR patches).
    "glrl-train": dict(model="glrl", mode="train", batch=32, patch=31),
    "drfn-5m-x4-train": dict(model="drfn-5m", mode="train", batch=8, patch=32),
    # Named by its LR input: 128x128 in, 512x512 out.
    "drfn-x4-infer-128x128": dict(model="drfn", mode="infer", lr=(128, 128)),
}


def image_like(n, c, h, w, gen):
    """Smooth image-like values on [0, 255], like sisr's `image_like`: a gradient plus
    noise, so activations resemble those of real pictures."""
    y = torch.arange(h, dtype=torch.float32).reshape(1, 1, h, 1)
    x = torch.arange(w, dtype=torch.float32).reshape(1, 1, 1, w)
    base = 96.0 + 48.0 * (torch.sin(x * 0.07) + torch.cos(y * 0.05))
    noise = torch.rand(n, c, h, w, generator=gen) * 32.0 - 16.0
    return (base + noise).clamp(0.0, 255.0).contiguous()


def make_optimizer(name, model):
    """Adam as in sisr's paper recipes. DCSCN adds the L2 penalty 1e-4·Σ½‖W‖² on conv
    weights only (C8), which is λ·W added to their gradient: Adam's (coupled) weight_decay
    on a parameter group of the 4-D tensors."""
    if name == "dcscn":
        weights = [p for p in model.parameters() if p.dim() == 4]
        others = [p for p in model.parameters() if p.dim() != 4]
        groups = [dict(params=weights, weight_decay=1e-4), dict(params=others, weight_decay=0.0)]
        return torch.optim.Adam(groups, lr=2e-3, betas=(0.9, 0.999), eps=1e-8)
    if name == "drn":
        return torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    if name in ("drfn", "drfn-5m"):
        return torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    if name == "glrl":
        # DRRN's solver: SGD momentum 0.9, lr 0.1, biases at 0.1× lr, the L2 penalty 1e-4 on
        # conv weights (sisr's `weight_decay` acts on 4-D tensors only).
        weights = [p for p in model.parameters() if p.dim() == 4]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        others = [p for n, p in model.named_parameters() if p.dim() != 4 and not n.endswith("bias")]
        groups = [dict(params=weights, weight_decay=1e-4), dict(params=biases, lr=0.01), dict(params=others)]
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    raise ValueError(name)


def euclidean_loss(out, target):
    """Caffe's EuclideanLoss on [0, 1] pixels, 1/(2N) Σ‖x − y‖² with N the batch size."""
    return ((out - target) / 255.0).square().sum() / (2.0 * out.shape[0])


# Loss of each model's paper recipe: MSE for DCSCN, L1 for DRN and DRFN, Euclidean for GLRL.
LOSSES = {"dcscn": F.mse_loss, "drn": F.l1_loss, "drfn": F.l1_loss, "drfn-5m": F.l1_loss, "glrl": euclidean_loss}

# DRRN's adjustable gradient clipping: the global norm clipped to θ / lr, θ = 0.01.
CLIP_NORM = {"glrl": 0.01 / 0.1}


def make_work(case, autocast=None):
    """Builds the model and data of a case; returns (work, parameter count). `autocast`
    ("bf16") runs the forward pass (and the loss) under torch.autocast on the CPU."""
    def precision():
        if autocast == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    spec = CASES[case]
    name = spec["model"]
    _, scale, channels, model_input = torch_models.MODELS[name]
    model = torch_models.build(name)
    params = torch_models.num_params(model)
    gen = torch.Generator().manual_seed(1)

    if spec["mode"] == "infer":
        lw, lh = spec["lr"]
        inputs = [image_like(1, channels, lh, lw, gen)]
        if model_input == "lr+bicubic":
            inputs.append(image_like(1, channels, lh * scale, lw * scale, gen))
        model.eval()

        def work():
            with torch.inference_mode(), precision():
                model(*inputs)

        return work, params

    n, p = spec["batch"], spec["patch"]
    hr = p if model_input == "bicubic" else p * scale
    inputs = [image_like(n, channels, p, p, gen)]
    if model_input == "lr+bicubic":
        inputs.append(image_like(n, channels, hr, hr, gen))
    target = image_like(n, channels, hr, hr, gen)
    clip = CLIP_NORM.get(name)
    model.train()  # DCSCN's dropout is on in training, as in sisr's train step
    opt = make_optimizer(name, model)
    loss_fn = LOSSES[name]

    def work():
        opt.zero_grad(set_to_none=True)
        with precision():
            loss = loss_fn(model(*inputs).float(), target)
        # sisr reads the loss back every step (its finite check) before the backward pass.
        if not torch.isfinite(loss).item():
            raise RuntimeError(f"non-finite loss on the benchmark batch of {case}")
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    return work, params


def time_runs(work, runs):
    work()  # warm-up: allocator, oneDNN primitive caches, Adam state
    seconds = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up run (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="JSON on stdout")
    ap.add_argument("--autocast", choices=["bf16"], help="run the forward pass under torch.autocast(\"cpu\", bfloat16)")
    args = ap.parse_args()

    torch.set_num_threads(max(args.threads, 1))
    torch.manual_seed(0)
    work, params = make_work(args.case, args.autocast)
    seconds = time_runs(work, args.runs)
    ordered = sorted(seconds)
    report = {
        "case": args.case,
        "autocast": args.autocast,
        "median_s": ordered[len(ordered) // 2],
        "min_s": ordered[0],
        "runs": len(seconds),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "params": params,
        "times_s": seconds,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.case}: median {report['median_s']:.4f} s, min {report['min_s']:.4f} s over {report['runs']} runs "
              f"({report['threads']} threads, torch {report['torch']}, {params} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
