# vec2prompt: the two set-up commands are `make demo` and `make test`.
CARGO ?= cargo
BIN := target/release/vec2prompt
# candle sizes its thread pools from RAYON_NUM_THREADS.
export RAYON_NUM_THREADS ?= $(shell nproc)

ALPACA ?= ../shared/data/alpaca_data.json
DATASET ?= $(HOME)/.cache/vec2prompt/datasets/alpaca
PROMPT ?= Give three tips for staying healthy.
RAW ?= pls giv 3 tips 4 staying helthy
TARGET ?= Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.

# Every target is a command, not a file.
.PHONY: content-validation build models demo test lint browser train-optimizer optimizer-reports reports bench leaderboard ranking train-default train-generator train-rl screenshot interpolation memory memory-status latent-memory validation fuzz soak wheel python-test

build:
	$(CARGO) build --release --locked

# Downloads the default models into $VEC2PROMPT_HOME/models (default ~/.cache/vec2prompt);
# does nothing if they are present and verified.
models: build
	$(BIN) models fetch

# The main job end to end: write a prompt for a target text with the learned search (the
# generator in assets/generator and the default model in assets/latent; the ingested
# dataset's prompts join the candidates when present), check the best candidates with the
# local LLM, print the measured similarity. Then one prompt optimization (the optimizer in
# assets/optimizer): the raw request and its rewrites measured, the raw one kept unless a
# rewrite measures better.
demo: models
	$(BIN) generate --target-text "$(TARGET)" --budget 4
	$(BIN) eval-prompt --prompt "$(PROMPT)" --target-text "$(TARGET)"
	$(BIN) optimize "$(RAW)" -n 2 --budget 4

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets --locked -- -D warnings

# Every test: the architecture check, unit tests on tiny random models, integration tests
# on the real models, end-to-end tests of the binary and the server, the playground in a
# real browser (installed here when missing), and a short pass of the API fuzzer.
test: models lint browser
	scripts/check-arch
	$(CARGO) test --release --workspace --locked
	$(MAKE) python-test
	$(MAKE) fuzz FUZZ_EXAMPLES=5

# The Python package as a wheel in target/wheels: abi3 (Python 3.9+), built for x86-64-v3
# (AVX2 and FMA; the int8 kernels take AVX-512 VNNI at run time where the CPU has it), in
# its own target directory so the native build's artifacts stay as they are.
PYTHON ?= python3
PYTOOLS := target/pytools
wheel:
	test -x $(PYTOOLS)/bin/maturin || { $(PYTHON) -m venv $(PYTOOLS) && $(PYTOOLS)/bin/pip install -q "maturin>=1.7,<2"; }
	rm -f target/wheels/vec2prompt-*.whl
	RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR=target/wheel $(PYTOOLS)/bin/maturin build --release --locked --strip -m python/Cargo.toml -o target/wheels

# The wheel installed into a fresh virtual environment, and its pytest suite on the real
# models (the client tests start this build's `vec2prompt serve`).
python-test: wheel build
	rm -rf target/pytest-venv
	$(PYTHON) -m venv target/pytest-venv
	target/pytest-venv/bin/pip install -q target/wheels/vec2prompt-*.whl "pytest>=7"
	VEC2PROMPT_BIN=$(CURDIR)/$(BIN) target/pytest-venv/bin/python -m pytest -q -p no:cacheprovider python/tests

# Chromium and ChromeDriver for the playground's browser test.
browser:
	scripts/ensure-browser

bench: models
	$(BIN) bench

# The committed leaderboard (first 100 test targets): ingest and embed Alpaca
# (resumable), then evaluate with the environment memory when one is built, the closed
# loop in 2 rounds, the searches also at answer weight 1 (`-w1`), and every choice
# re-scored in the perturbed environments. Answers are cached in $(DATASET)/cache.
leaderboard: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) --latent assets/latent --generator none eval --dataset $(DATASET) --limit 100 --seed 0 --k 4,16 --budgets 4,16 --rounds 2 --memory all --answer-weights 1 --perturbed sampled,f32 --out reports/leaderboard

# The wider zero-call report: 300 test targets, the surrogate's ranking of 8 neighbours
# against their real scores (Spearman), knn-best-of-4/8, inverter-greedy and fast mode.
ranking: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) --latent assets/latent eval --dataset $(DATASET) --limit 300 --seed 0 --k 4,8 --budgets --out reports/ranking-300

# Retrains the default learned models' first stage on the Alpaca train split; resumable
# (run it again after an interruption). The shipped surrogate and corrector then had a
# second stage on the environment memory: `make latent-memory MEMORY_FROM=$(LATENT_OUT)`.
# See assets/latent/MODEL_CARD.md for the times.
LATENT_OUT ?= $(HOME)/.cache/vec2prompt/latent
train-default: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) train surrogate --dataset $(DATASET) --train-config configs/train.yaml --out $(LATENT_OUT)
	$(BIN) train inverter --dataset $(DATASET) --train-config configs/train.yaml --out $(LATENT_OUT) --epochs 1
	$(BIN) train corrector --dataset $(DATASET) --train-config configs/train.yaml --out $(LATENT_OUT)

# The generator: stage 1 (supervised, E(answer) → prompt) into $(GENERATOR_OUT), then
# stage 2 (policy gradient on the real LLM's answers, KL to stage 1) into $(RL_OUT). Both
# are time-boxed (MINUTES) and resumable: run the same target again to continue. The
# shipped assets/generator was trained on the whole train split (see its card).
GENERATOR_OUT ?= $(HOME)/.cache/vec2prompt/generator
RL_OUT ?= $(HOME)/.cache/vec2prompt/generator-rl
MINUTES ?= 25
# configs/rl-surrogate.yaml trains on the surrogate's predicted reward instead (no LLM call
# while training; the held-out check still uses the real LLM).
RL_CONFIG ?= configs/rl.yaml
train-generator: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	CANDLE_NUM_THREADS=1 $(BIN) train generator --dataset $(DATASET) --train-config configs/generator.yaml --max-minutes $(MINUTES) --out $(GENERATOR_OUT)
train-rl: models
	CANDLE_NUM_THREADS=1 $(BIN) train rl --dataset $(DATASET) --from $(GENERATOR_OUT) --train-config $(RL_CONFIG) --max-minutes $(MINUTES) --out $(RL_OUT)

# The playground screenshot in the README: the browser test, keeping its screenshot, with
# the ingested dataset's prompts as candidates.
screenshot: models
	VEC2PROMPT_SCREENSHOT=$(CURDIR)/docs/playground.png VEC2PROMPT_PLAYGROUND_DATASET=$(DATASET) $(CARGO) test --release --locked -p vec2prompt --test playground playground_in_a_real_browser

# The prompt optimizer (assets/optimizer was made by this, see its card): phase 1 on pairs
# whose raw prompts the training families of configs/optimizer.yaml write (never the
# benchmark's held-out family). Time-boxed and resumable: run the same target again.
# Then its answer head (minutes), the default goal of a budget's measured answers.
OPTIMIZER_OUT ?= $(HOME)/.cache/vec2prompt/optimizer
train-optimizer: models
	$(BIN) train optimizer --dataset $(ALPACA) --train-config configs/optimizer.yaml --max-minutes 75 --out $(OPTIMIZER_OUT)
	$(BIN) train answer-head --dataset $(ALPACA) --train-config configs/optimizer.yaml --out $(OPTIMIZER_OUT)

# The optimizer's committed reports: the gate on validation (anchors and baselines, every
# raw family), the shipped optimizer on the held-out family (test) and on real users
# (bpo_val). About an hour on 2 idle cores; answers are cached under $VEC2PROMPT_HOME/cache.
BPO ?= ../shared/data/bpo_val.json
optimizer-reports: models
	$(BIN) eval-optimizer --dataset $(ALPACA) --split validation --limit 200 --model none --family telegraphic,typos,chat-speak,query-order,format-stripped,topic-lost --out reports/optimizer-families-validation
	$(BIN) eval-optimizer --dataset $(ALPACA) --split test --limit 100 --family telegraphic --model shipped=assets/optimizer --budget 4 --structured-limit 100 --target-examples 2 --out reports/optimizer-heldout-test
	$(BIN) eval-optimizer --dataset $(ALPACA) --bpo $(BPO) --limit 40 --model shipped=assets/optimizer --budget 4 --structured-limit 0 --out reports/optimizer-bpo

# The committed headline reports, regenerated from a clean tree: the leaderboard (hours:
# ingest, the environment memory when built, every method), its prompt quality, and the
# optimizer's reports.
reports: leaderboard optimizer-reports
	$(BIN) plot reports/leaderboard.json --quality-data $(ALPACA)

# The interpolation report (validation targets): do answers follow a path between two
# targets? Resumable through the answer cache of the dataset.
interpolation: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) --latent assets/latent eval-interpolation --dataset $(DATASET) --split validation --pairs 30 --steps 7 --out reports/interpolation

# The environment memory: the local LLM's own answers to the train prompts, embedded, in a
# seeded order. Resumable (run it again after an interruption); LIMIT=N builds or extends
# the first N prompts of the order, no LIMIT answers all of them (hours on 2 cores).
LIMIT ?=
memory: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) remember --dataset $(DATASET) $(if $(LIMIT),--limit $(LIMIT))

# Where the memory stands (answers done of the train split, its LLM key).
memory-status: build
	$(BIN) remember --dataset $(DATASET) --status

# The surrogate and the corrector retrained on the environment memory (the LLM's own
# answers), warm-started from the models in MEMORY_FROM, in a model directory that keeps
# their inverter and tokenizer. Resumable; use it with --latent $(MEMORY_LATENT). The
# shipped models were made from the dataset-trained ones (`make train-default`, then
# MEMORY_FROM=$(LATENT_OUT)); the default MEMORY_FROM, assets/latent, refines the shipped
# ones further on a larger memory.
MEMORY_LATENT ?= $(HOME)/.cache/vec2prompt/latent-memory
MEMORY_FROM ?= assets/latent
latent-memory: build
	mkdir -p $(MEMORY_LATENT)
	cp -n $(MEMORY_FROM)/* $(MEMORY_LATENT)/
	$(BIN) train surrogate --dataset $(DATASET) --train-config configs/train.yaml --memory --from $(MEMORY_FROM) --out $(MEMORY_LATENT)
	$(BIN) train corrector --dataset $(DATASET) --train-config configs/train.yaml --memory --from $(MEMORY_FROM) --epochs 2 --out $(MEMORY_LATENT)

# The development leaderboard: the first VALIDATION targets of the validation split, with
# the environment memory when built (MEMORY=all, none or a size) and the perturbed
# environments when PERTURBED=sampled,f32. Answers are cached in $(DATASET)/cache.
VALIDATION ?= 50
MEMORY ?= all
LATENT ?= assets/latent
PERTURBED ?=
validation: models
	$(BIN) --latent $(LATENT) --generator none eval --dataset $(DATASET) --split validation --limit $(VALIDATION) --k 4,16 --budgets 4 --memory $(MEMORY) $(if $(PERTURBED),--perturbed $(PERTURBED)) --out reports/validation

# The HTTP API against its own OpenAPI document: schemathesis (pip-installed into
# target/fuzz-venv) with every check, positive data acceptance included, against a real
# `vec2prompt serve` on loopback. FUZZ_EXAMPLES cases per operation and phase; CI runs 5.
FUZZ_EXAMPLES ?= 100
fuzz: models
	scripts/fuzz.sh $(FUZZ_EXAMPLES)

# Bounded load on loopback: 64 concurrent fast-mode clients for 60 s, then a burst of 200;
# prints failures, 429s, p50/p99 and the server's RSS before and after.
soak: models
	scripts/soak.sh 64 60 200

# What the content candidates (the target's topics) add: every search with and without
# them, with the dataset and without it (nodata-, the shipped generator), on the first
# VALIDATION targets of the validation split. Answers are cached in $(DATASET)/cache.
SPLIT ?= validation
GENERATOR ?= assets/generator
content-validation: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) --latent $(LATENT) --generator $(GENERATOR) eval --dataset $(DATASET) --split $(SPLIT) --limit $(VALIDATION) --k 4,16 --budgets 4 --memory none --content-ablation --out reports/content-$(SPLIT)
