"""PyTorch twins of the sisr networks, for timing comparisons only.

Each class mirrors the Rust module of the same name in crates/sisr/src/models/ layer for
layer: the same convolutions (kernel, channels, bias), activations, concatenations, pixel
shuffles and attention products in the same order, so that both sides do the same work.
Weights are PyTorch's default random initialisation: values do not matter for timing, only
shapes do (`python bench/torch_models.py` checks the parameter counts against `sisr info`).

Default configurations, as built by `ModelKind::build` in models/mod.rs:
  dcscn  x2  Y   DcscnConfig::new(2)   (7 FE layers 96→32, gamma 1.5, A1 64, B1/B2 32, L 1×1)
  drn    x2  RGB DrnConfig::new(2)     (G 6, K 9, d 8, inner width 64, ELU 0.2, one-step PS)
  drfn   x4  RGB DrfnConfig::new(4)    (G 16, M 8, CA avg r16, SA 7×7, 16 fusion pairs, two ×2 PS)
  drfn-5m x4 RGB                       (as drfn with M 4: the paper's 5.2M-parameter budget)
  glrl   any Y   GlrlConfig::new()     (F 64, 3 LRBs, PReLU 0.25 pre-activations, shared REC, 3 output weights)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# EDSR/RCAN MeanShift constants (blocks.rs `mean_shift`).
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
RGB_RANGE = 255.0


def conv(cin, cout, k, bias=True):
    """A k×k convolution, stride 1, "same" zero padding (blocks.rs `conv`)."""
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class MeanShift(nn.Module):
    """Adds sign·rgb_range·mean per channel. A buffer, not a parameter, as in sisr."""

    def __init__(self, sign):
        super().__init__()
        shift = torch.tensor(DIV2K_MEAN).mul(sign * RGB_RANGE).reshape(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x):
        return x + self.shift


class Upsampler(nn.Module):
    """EDSR `common.Upsampler` without activation (blocks.rs `Upsampler`): one conv to
    C·r² + PS(r) per stage; ×4 is two ×2 stages when `two_step_x4`, else a single stage."""

    def __init__(self, channels, scale, two_step_x4):
        super().__init__()
        factors = [2, 2] if scale == 4 and two_step_x4 else [scale]
        layers = []
        for r in factors:
            layers += [conv(channels, channels * r * r, 3), nn.PixelShuffle(r)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class PreActConv(nn.Module):
    """PReLU then 3×3 conv (glrl.rs `PreActConv`)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.prelu = nn.PReLU(cin, init=0.25)
        self.conv = conv(cin, cout, 3)

    def forward(self, x):
        return self.conv(self.prelu(x))


class Lrb(nn.Module):
    """Local residual block: shallow branch + two residual units, unshared (glrl.rs `Lrb`)."""

    def __init__(self, f):
        super().__init__()
        self.shallow = PreActConv(f, f)
        self.unit1 = nn.ModuleList([PreActConv(f, f), PreActConv(f, f)])
        self.unit2 = nn.ModuleList([PreActConv(f, f), PreActConv(f, f)])

    def forward(self, x):
        s = self.shallow(x)
        h1 = x + self.unit1[1](self.unit1[0](x))
        h2 = x + self.unit2[1](self.unit2[0](h1))
        return h2 + s


class Glrl(nn.Module):
    def __init__(self, filters=64, blocks=3):
        super().__init__()
        f = filters
        self.fe1 = conv(1, f, 3)
        self.fe2 = PreActConv(f, f)
        self.blocks = nn.ModuleList(Lrb(f) for _ in range(blocks))
        self.rec1 = PreActConv(f, f)
        self.rec2 = PreActConv(f, 1)
        self.output_weights = nn.Parameter(torch.full((blocks,), 1.0 / blocks))

    def forward(self, bicubic):
        """bicubic: [N, 1, sH, sW] on [0, 255] → [N, 1, sH, sW]; [0, 1] inside."""
        inp = bicubic / 255.0
        x = self.fe2(self.fe1(inp))
        out = None
        for u, block in enumerate(self.blocks):
            x = block(x)
            y = (self.rec2(self.rec1(x)) + inp) * self.output_weights[u]
            out = y if out is None else out + y
        return out * 255.0


# ---------------------------------------------------------------------------------------
# DCSCN (dcscn.rs)
# ---------------------------------------------------------------------------------------


def dcscn_feature_filters(layers=7, filters=96, min_filters=32, gamma=1.5):
    """The ver1 filter schedule f_i = int((filters − min)·(1 − (i/(L−1))^(1/γ)) + min),
    the first layer keeping `filters` (DcscnConfig::feature_filters)."""
    out = [filters]
    for i in range(1, layers):
        x = (i / (layers - 1)) ** (1.0 / gamma)
        out.append(int((filters - min_filters) * (1.0 - x) + min_filters))
    return out


class ConvPrelu(nn.Module):
    """conv + bias + per-channel PReLU (slope init 0, C5) + dropout keep 0.8 in training."""

    def __init__(self, cin, cout, k, prelu_init=0.0, keep=0.8):
        super().__init__()
        self.conv = conv(cin, cout, k)
        self.prelu = nn.PReLU(cout, init=prelu_init)
        # nn.Dropout is inverted dropout, active only in train(), like burn's Dropout.
        self.dropout = nn.Dropout(1.0 - keep)

    def forward(self, x):
        return self.dropout(self.prelu(self.conv(x)))


class Dcscn(nn.Module):
    def __init__(self, scale=2, nin_a=64, nin_b=32, reconstruct_kernel=1):
        super().__init__()
        filters = dcscn_feature_filters()
        cins = [1] + filters[:-1]
        self.feature = nn.ModuleList(ConvPrelu(cin, f, 3) for cin, f in zip(cins, filters))
        total = sum(filters)
        self.a1 = ConvPrelu(total, nin_a, 1)
        self.b1 = ConvPrelu(total, nin_b, 1)
        self.b2 = ConvPrelu(nin_b, nin_b, 3)
        # L has no bias (dcscn.rs `conv(..., false, ...)`).
        self.l = conv(nin_a + nin_b, scale * scale, reconstruct_kernel, bias=False)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, lr, bicubic):
        """lr: [N, 1, H, W], bicubic: [N, 1, sH, sW] (its bicubic upscale), both on [0, 255]."""
        h = lr
        skips = []
        for layer in self.feature:
            h = layer(h)
            skips.append(h)
        features = torch.cat(skips, 1)  # [N, Σf, H, W]
        a = self.a1(features)
        b = self.b2(self.b1(features))
        residual = self.l(torch.cat([a, b], 1))  # [N, s², H, W]
        return self.shuffle(residual) + bicubic


# ---------------------------------------------------------------------------------------
# DRN (drn.rs)
# ---------------------------------------------------------------------------------------


class Rdb(nn.Module):
    """Residual distilling block on D = 64 + 8k channels: reduce 1×1 (D→W), 3×3 (W→W),
    expand 1×1 (W→D+8)."""

    def __init__(self, d, width, growth):
        super().__init__()
        self.reduce = conv(d, width, 1)
        self.conv = conv(width, width, 3)
        self.expand = conv(width, d + growth, 1)


class Rdg(nn.Module):
    def __init__(self, features, blocks, growth, width):
        super().__init__()
        self.blocks = nn.ModuleList(Rdb(features + growth * k, width, growth) for k in range(blocks))
        self.fuse = conv(features + growth * blocks, features, 1)


class Drn(nn.Module):
    def __init__(self, scale=2, features=64, groups=6, blocks=9, growth=8, inner_width=64,
                 elu_alpha=0.2, rd_last_act=True, two_step_x4=False):
        super().__init__()
        self.elu_alpha = elu_alpha
        self.rd_last_act = rd_last_act
        self.sub_mean = MeanShift(-1.0)
        self.add_mean = MeanShift(1.0)
        self.lfe = conv(3, features, 3)
        self.groups = nn.ModuleList(Rdg(features, blocks, growth, inner_width) for _ in range(groups))
        self.upsampler = Upsampler(features, scale, two_step_x4)
        self.output = conv(features, 3, 3)

    def elu(self, x):
        # sisr writes ELU as clamp/exp arithmetic only to avoid overflow in its backend;
        # the function (and its gradient) is the same as F.elu.
        return F.elu(x, self.elu_alpha)

    def rdb(self, b, z):
        d = z.shape[1]
        t = self.elu(b.reduce(z))
        t = self.elu(b.conv(t))
        t = b.expand(t)  # [N, D+d, H, W]
        if self.rd_last_act:
            t = self.elu(t)
        # The first D channels refine the block input, the last d are distilled and appended.
        return torch.cat([z + t[:, :d], t[:, d:]], 1)

    def forward(self, lr):
        """lr: [N, 3, H, W] RGB on [0, 255] → [N, 3, sH, sW]."""
        y0 = self.lfe(self.sub_mean(lr))
        y = y0
        for g in self.groups:
            z = y
            for b in g.blocks:
                z = self.rdb(b, z)
            y = self.elu(g.fuse(z)) + y
        hr = self.upsampler(y + y0)
        return self.add_mean(self.output(hr))


# ---------------------------------------------------------------------------------------
# DRFN (drfn.rs) and its attention blocks (blocks.rs)
# ---------------------------------------------------------------------------------------


class ChannelAttention(nn.Module):
    """RCAN CALayer with average pooling (CamPool::Avg): σ(up(ReLU(down(avgpool(x)))))."""

    def __init__(self, channels, reduction):
        super().__init__()
        mid = channels // reduction
        self.down = conv(channels, mid, 1)
        self.up = conv(mid, channels, 1)

    def forward(self, x):
        avg = x.mean(dim=(2, 3), keepdim=True)  # [N, C, 1, 1]
        return torch.sigmoid(self.up(F.relu(self.down(avg))))


class SpatialAttention(nn.Module):
    """CBAM SpatialGate with bias, no BN: σ(conv_k(2→1)([max_c x; mean_c x]))."""

    def __init__(self, kernel):
        super().__init__()
        self.conv = conv(2, 1, kernel)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], 1)
        return torch.sigmoid(self.conv(pooled))  # [N, 1, H, W]


class ResBlock(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.conv1 = conv(f, f, 3)
        self.conv2 = conv(f, f, 3)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class Rag(nn.Module):
    """Residual attention group: M residual blocks, channel then spatial attention, skip.
    (rag_tail_conv is false in the default configuration: no trailing 3×3 conv.)"""

    def __init__(self, f, blocks, reduction, sam_kernel):
        super().__init__()
        self.blocks = nn.Sequential(*(ResBlock(f) for _ in range(blocks)))
        self.ca = ChannelAttention(f, reduction)
        self.sa = SpatialAttention(sam_kernel)

    def forward(self, inp):
        x = self.blocks(inp)
        c = x * self.ca(x)  # [N, C, 1, 1] broadcast
        s = c * self.sa(c)  # [N, 1, H, W] broadcast
        return s + inp


class Drfn(nn.Module):
    def __init__(self, scale=4, features=64, groups=16, blocks=8, reduction=16, sam_kernel=7,
                 fuse_shallow=True, two_step_x4=True):
        super().__init__()
        f = features
        pairs = groups if fuse_shallow else groups - 1
        self.first = 0 if fuse_shallow else 1
        self.sub_mean = MeanShift(-1.0)
        self.add_mean = MeanShift(1.0)
        self.head = conv(3, f, 3)
        self.groups = nn.ModuleList(Rag(f, blocks, reduction, sam_kernel) for _ in range(groups))
        self.pair_convs = nn.ModuleList(conv(2 * f, f, 1) for _ in range(pairs))
        self.pair_sas = nn.ModuleList(SpatialAttention(sam_kernel) for _ in range(pairs))
        self.fusion = conv(pairs * f, f, 1)
        self.upsampler = Upsampler(f, scale, two_step_x4)
        self.tail = conv(f, 3, 3)

    def forward(self, lr):
        """lr: [N, 3, H, W] RGB on [0, 255] → [N, 3, sH, sW]."""
        f0 = self.head(self.sub_mean(lr))
        features = [f0]
        for g in self.groups:
            features.append(g(features[-1]))  # F_g
        fused = []
        for i, (pair_conv, sa) in enumerate(zip(self.pair_convs, self.pair_sas)):
            g = self.first + i
            p = pair_conv(torch.cat([features[g], features[g + 1]], 1))
            fused.append(p * sa(p))
        f_ff = self.fusion(torch.cat(fused, 1))
        f_df = features[-1] + f_ff + f0
        return self.add_mean(self.tail(self.upsampler(f_df)))


# ---------------------------------------------------------------------------------------

# name -> (constructor, scale, input channels, input: "lr", "lr+bicubic" or "bicubic"
# (models/mod.rs `Input`: a bicubic-only network's patches are on the HR grid))
MODELS = {
    "dcscn": (lambda: Dcscn(scale=2), 2, 1, "lr+bicubic"),
    "drn": (lambda: Drn(scale=2), 2, 3, "lr"),
    "drfn": (lambda: Drfn(scale=4), 4, 3, "lr"),
    "drfn-5m": (lambda: Drfn(scale=4, blocks=4), 4, 3, "lr"),
    "glrl": (lambda: Glrl(), 3, 1, "bicubic"),
}


def build(name):
    return MODELS[name][0]()


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def _sisr_params(sisr, name, scale):
    """The parameter count `sisr info --json` reports, or None if sisr cannot be run."""
    import json
    import subprocess

    try:
        out = subprocess.run([sisr, "info", "--model", name, "--scale", str(scale), "--json"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return json.loads(out)["params"]


def main():
    import argparse
    import pathlib

    default_sisr = pathlib.Path(__file__).resolve().parent.parent / "target" / "release" / "sisr"
    ap = argparse.ArgumentParser(description="Parameter counts of the PyTorch twins, checked against `sisr info`.")
    ap.add_argument("--sisr", default=str(default_sisr), help="sisr binary (default: %(default)s)")
    args = ap.parse_args()

    ok = True
    print(f"{'model':<8} {'scale':>5} {'torch params':>13} {'sisr params':>12}  match")
    for name, (_, scale, _, _) in MODELS.items():
        torch_count = num_params(build(name))
        sisr_count = _sisr_params(args.sisr, name, scale)
        if sisr_count is None:
            verdict, shown = "sisr not runnable", "-"
        else:
            verdict, shown = ("yes" if sisr_count == torch_count else "NO"), str(sisr_count)
            ok &= sisr_count == torch_count
        print(f"{name:<8} {'x' + str(scale):>5} {torch_count:>13} {shown:>12}  {verdict}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
