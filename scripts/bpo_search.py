#!/usr/bin/env python3
"""The search on real users' requests (bpo_val.json), against the human prompt.

Target = E(good_res) of the first LIMIT records; the human prompt = `instruction` (plus
`context`). Each content margin runs `vec2prompt batch --budget B --content-margin M` over
the targets (measured similarities: greedy answers are the same when answered again), the
human prompts are answered with `vec2prompt eval-prompt`, and the script prints means,
paired differences with 95% bootstrap CIs, the share of template picks, and 20 random
picks of the first margin. Standard library only.

    scripts/bpo_search.py --bpo ../shared/data/bpo_val.json --limit 40 --budget 4 \
        --margins 0.1,0 --home <home> --out target/bpo-search
"""

import argparse
import json
import os
import random
import subprocess

TEMPLATES = ("Write about ", "Write one sentence about ", "Describe ", "Explain ", "Give tips on ")


def is_template(prompt: str) -> bool:
    """One of the five content requests around a word list."""
    words = prompt.split()
    listed = "," in prompt or " and " in prompt or len(words) <= 4
    return prompt.startswith(TEMPLATES) and prompt.endswith(".") and listed and "\n" not in prompt


def ci(diffs, seed=0):
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(10000))
    return sum(diffs) / n, means[250], means[9750]


def load(path):
    with open(path) as f:
        return {json.loads(line)["id"]: json.loads(line) for line in f if line.strip()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpo", required=True)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--budget", type=int, default=4)
    ap.add_argument("--margins", default="0.1,0")
    ap.add_argument("--home", default=None, help="VEC2PROMPT_HOME (default: the usual one)")
    ap.add_argument("--bin", default="target/release/vec2prompt")
    ap.add_argument("--out", default="target/bpo-search")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    home = ["--home", args.home] if args.home else []
    with open(args.bpo) as f:
        records = [r for r in json.load(f) if r.get("good_res", "").strip()][: args.limit]
    targets = os.path.join(args.out, "targets.jsonl")
    with open(targets, "w") as f:
        for i, r in enumerate(records):
            f.write(json.dumps({"id": str(i), "text": r["good_res"]}) + "\n")
    margins = [m.strip() for m in args.margins.split(",") if m.strip()]
    picks = {}
    for m in margins:
        out = os.path.join(args.out, f"margin-{m}.jsonl")
        cmd = [args.bin, *home, "batch", "--budget", str(args.budget), "--content-margin", m, "--out", out, targets]
        subprocess.run(cmd, check=True)
        picks[m] = load(out)
    human = {}
    human_path = os.path.join(args.out, "human.jsonl")
    done = load(human_path) if os.path.exists(human_path) else {}
    with open(human_path, "a") as f:
        for i, r in enumerate(records):
            key = str(i)
            if key in done:
                human[key] = done[key]["similarity"]
                continue
            prompt = r["instruction"] + ("\n\n" + r["context"] if r.get("context", "").strip() else "")
            p = subprocess.run(
                [args.bin, *home, "eval-prompt", "--prompt", prompt, "--target-text", r["good_res"], "--json"],
                check=True,
                capture_output=True,
                text=True,
            )
            sim = json.loads(p.stdout)["similarity"]
            human[key] = sim
            f.write(json.dumps({"id": key, "similarity": sim}) + "\n")
    ids = sorted(set(human).intersection(*[set(p) for p in picks.values()]), key=int)
    print(f"{len(ids)} records of {args.bpo}; budget {args.budget}; human prompt mean {sum(human[i] for i in ids) / len(ids):.3f}")
    for m in margins:
        p = picks[m]
        mean = sum(p[i]["similarity"] for i in ids) / len(ids)
        d, lo, hi = ci([p[i]["similarity"] - human[i] for i in ids])
        t = sum(is_template(p[i]["prompt"]) for i in ids) / len(ids)
        print(f"margin {m}: mean {mean:.3f}; − human {d:+.3f} [{lo:+.3f}, {hi:+.3f}]; templates {t:.0%}")
    first = margins[0]
    for m in margins[1:]:
        d, lo, hi = ci([picks[first][i]["similarity"] - picks[m][i]["similarity"] for i in ids])
        print(f"margin {first} − margin {m}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    rng = random.Random(3)
    print(f"20 random picks at margin {first}:")
    for i in rng.sample(ids, min(20, len(ids))):
        print(f"  {picks[first][i]['similarity']:.3f} {picks[first][i]['prompt'][:100]!r}")


if __name__ == "__main__":
    main()
