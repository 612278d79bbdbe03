"""PyTorch reference for `vec2prompt bench --part train` (BENCHMARKS.md, "Training").

The same conditional decoder as crates/latent (projector MLP 384 -> 1024 -> 8x256 soft-prefix
tokens, learned positions, 4 pre-norm blocks with fused-qkv attention and SwiGLU 1024, RMS
norm, tied 16,384-token embedding), the same step (forward, masked cross-entropy, backward,
gradient clipping at 1.0, AdamW), batch 32 x 32 tokens, one warm-up step then 5 timed steps.

Not part of the build or the tests; run it by hand where PyTorch is installed:
    python scripts/torch_train_bench.py [--threads 2]
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, DIM, LAYERS, HEADS, HIDDEN, PREFIX, COND = 16_384, 256, 4, 4, 1024, 8, 384
BATCH, LEN = 32, 32


class RmsNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = RmsNorm(DIM), RmsNorm(DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.out = nn.Linear(DIM, DIM, bias=False)
        self.gate_up = nn.Linear(DIM, 2 * HIDDEN, bias=False)
        self.down = nn.Linear(HIDDEN, DIM, bias=False)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(b, t, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4)
        )
        scores = q @ k.transpose(-1, -2) / (d // HEADS) ** 0.5 + mask
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(y)
        gate, up = self.gate_up(self.norm2(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(COND, 4 * DIM), nn.Linear(4 * DIM, PREFIX * DIM)
        self.tokens = nn.Embedding(VOCAB, DIM)
        self.positions = nn.Parameter(torch.randn(PREFIX + LEN, DIM) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RmsNorm(DIM)

    def forward(self, cond, ids):
        b, t = ids.shape
        prefix = self.fc2(F.gelu(self.fc1(cond))).view(b, PREFIX, DIM)
        x = torch.cat([prefix, self.tokens(ids)], 1) + self.positions[: PREFIX + t]
        n = PREFIX + t
        mask = torch.triu(torch.full((n, n), -1e9), diagonal=1)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x[:, PREFIX:]) @ self.tokens.weight.T


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Decoder()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, 16_000, (BATCH, LEN))
    targets = torch.randint(0, 16_000, (BATCH, LEN))
    weights = torch.ones(BATCH, LEN)
    cond = torch.randn(BATCH, COND)

    def step():
        logp = model(cond, ids).log_softmax(-1)
        picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        loss = -(picked * weights).sum() / weights.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    secs = time.perf_counter() - start
    print(
        f"torch {torch.__version__}, {args.threads} threads: "
        f"{args.steps * BATCH * LEN / secs:.0f} tokens/s ({secs / args.steps * 1e3:.0f} ms/step)"
    )


if __name__ == "__main__":
    main()
