"""PyTorch reference for `vec2prompt bench --part generator-train` (BENCHMARKS.md).

The same network and step as crates/latent's generator: a frozen llama of SmolLM2-135M's
shape (30 layers, hidden 576, 9 query / 3 key-value heads of 64, SiLU MLP 1536, RMS norm,
RoPE base 100000, tied 49,152-token head), f32, with trainable LoRA (rank 16, alpha 32) on
the query and value projections and a trainable projector (384 -> 1024 -> 20 soft tokens
of 576, each RMS-normalized). The 21-token fixed prefix runs once per batch and its keys
and values are shared by every row (with the graph kept, as in the Rust step); each row
then adds 20 soft, 16 suffix and 24 prompt positions. The step: forward, cross-entropy on
the prompt tokens, backward, AdamW on the trainable tensors. Batch 8, one warm-up step,
then 3 timed steps. The weights are random: throughput does not depend on their values.

Not part of the build or the tests; run it by hand where PyTorch is installed:
    python scripts/torch_generator_bench.py [--threads 2]
It prints positions/s and prompt tokens/s, counted as the Rust bench counts them.
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LAYERS, D, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 30, 576, 9, 3, 64, 1536, 49_152
ROPE_BASE, COND, PROJ_HIDDEN, SOFT, RANK, ALPHA = 100_000.0, 384, 1024, 20, 16, 32.0
PREFIX, SUFFIX, PROMPT, BATCH = 21, 16, 24, 8


def frozen(*shape, scale=0.02):
    return nn.Parameter(torch.randn(*shape) * scale, requires_grad=False)


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, start):
    # x: (B, H, L, 64); interleaved pairs, as the GGUF llama layout.
    L = x.shape[2]
    inv = 1.0 / (ROPE_BASE ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
    t = torch.arange(start, start + L).float()
    ang = torch.outer(t, inv)
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class Lora(nn.Module):
    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.a = nn.Parameter(torch.randn(RANK, fan_in) / fan_in**0.5)
        self.b = nn.Parameter(torch.zeros(fan_out, RANK))

    def forward(self, x):
        return (x @ self.a.T) @ self.b.T * (ALPHA / RANK)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = nn.Parameter(torch.ones(D), requires_grad=False)
        self.ffn_norm = nn.Parameter(torch.ones(D), requires_grad=False)
        self.qkv = frozen((HEADS + 2 * KV_HEADS) * HEAD_DIM, D)
        self.wo = frozen(D, HEADS * HEAD_DIM)
        self.gate_up = frozen(2 * FFN, D)
        self.down = frozen(D, FFN)
        self.lora_q = Lora(D, HEADS * HEAD_DIM)
        self.lora_v = Lora(D, KV_HEADS * HEAD_DIM)

    def forward(self, x, start, past=None):
        b, l, _ = x.shape
        h = rms(x, self.attn_norm)
        qkv = h @ self.qkv.T
        q, k, v = qkv.split([HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM], -1)
        q = q + self.lora_q(h)
        v = v + self.lora_v(h)
        q = rope(q.view(b, l, HEADS, HEAD_DIM).transpose(1, 2), start)
        k = rope(k.view(b, l, KV_HEADS, HEAD_DIM).transpose(1, 2), start)
        v = v.view(b, l, KV_HEADS, HEAD_DIM).transpose(1, 2)
        own = (k, v)
        if past is not None:
            pk, pv = past
            k = torch.cat([pk.expand(b, -1, -1, -1), k], 2)
            v = torch.cat([pv.expand(b, -1, -1, -1), v], 2)
        rep = HEADS // KV_HEADS
        k = k.repeat_interleave(rep, 1)
        v = v.repeat_interleave(rep, 1)
        total = k.shape[2]
        mask = torch.ones(l, total, dtype=torch.bool).tril(total - l)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + a.transpose(1, 2).reshape(b, l, D) @ self.wo.T
        g, u = (rms(x, self.ffn_norm) @ self.gate_up.T).chunk(2, -1)
        return x + (F.silu(g) * u) @ self.down.T, own


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = frozen(VOCAB, D)
        self.norm = nn.Parameter(torch.ones(D), requires_grad=False)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.p1 = nn.Linear(COND, PROJ_HIDDEN)
        self.p2 = nn.Linear(PROJ_HIDDEN, SOFT * D)

    def loss(self, prefix, cond, suffix, prompt):
        b = cond.shape[0]
        # The shared prefix: once, its keys and values kept per layer (with the graph).
        x = self.embed[prefix].unsqueeze(0)
        pasts = []
        for blk in self.blocks:
            x, kv = blk(x, 0)
            pasts.append(kv)
        soft = self.p2(F.gelu(self.p1(cond))).view(b, SOFT, D)
        soft = rms(soft, torch.ones(D)) * self.embed.pow(2).mean().sqrt()
        rest = torch.cat(
            [soft, self.embed[suffix].expand(b, -1, -1), self.embed[prompt[:, :-1]]], 1
        )
        x = rest
        for blk, past in zip(self.blocks, pasts):
            x, _ = blk(x, PREFIX, past)
        # The prompt's tokens are predicted from the position before each.
        h = rms(x[:, SOFT + SUFFIX - 1 :], self.norm)
        logits = h @ self.embed.T
        return F.cross_entropy(logits.reshape(-1, VOCAB), prompt.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Generator()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    prefix = torch.randint(100, VOCAB, (PREFIX,))
    suffix = torch.randint(100, VOCAB, (SUFFIX,))
    prompt = torch.randint(100, VOCAB, (BATCH, PROMPT))
    cond = torch.randn(BATCH, COND)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(prefix, cond, suffix, prompt)
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    secs = time.perf_counter() - t
    per_row = SOFT + SUFFIX + PROMPT - 1
    positions = (PREFIX + per_row * BATCH) * args.steps
    print(
        f"torch {torch.__version__}, {args.threads} threads: "
        f"{positions / secs:.1f} positions/s, {PROMPT * BATCH * args.steps / secs:.1f} prompt tokens/s "
        f"({secs / args.steps:.2f} s/step)"
    )


if __name__ == "__main__":
    main()
