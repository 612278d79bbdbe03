//! The `vec2prompt` command line.

use clap::{Parser, Subcommand};
use vec2prompt_cli::config::{Config, GlobalArgs};
use vec2prompt_cli::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// vec2prompt: write prompts whose LLM answers land near a target embedding.
#[derive(Debug, Parser)]
#[clap(name = "vec2prompt", version, about, long_about = None)]
struct Cli {
    #[clap(flatten)]
    global: GlobalArgs,
    #[clap(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Download, verify and list the default local models.
    #[clap(subcommand)]
    Models(models_cmd::ModelsCommand),
    /// Answer a prompt with the LLM and measure how close the answer lands to a target.
    EvalPrompt(eval_prompt::EvalPromptArgs),
    /// Embed lines of text (stdin or a file) to JSONL.
    Embed(embed_cmd::EmbedArgs),
    /// Measure embedding and LLM throughput on this machine.
    Bench(bench::BenchArgs),
    /// Read a dataset (Alpaca JSON, JSONL, CSV) into a dataset directory and embed its
    /// outputs and prompts (resumable: run it again after an interruption).
    Ingest(dataset_cmd::IngestArgs),
    /// Nearest records of a dataset to a text or a vector.
    Search(dataset_cmd::SearchArgs),
    /// The leaderboard on held-out targets: the reference methods (random, oracle, knn-1,
    /// knn-best-of-k, memory-1), the learned ones (generator, fast mode, searches with
    /// LLM-call budgets, with and without the dataset), and the chosen prompts' quality.
    Eval(eval_cmd::EvalArgs),
    /// Render an `eval` report again from its JSON, without re-running it: its Markdown
    /// (with paired differences) and its SVG pictures (score distributions, paired
    /// differences, quality against LLM calls); `--quality-data` also measures how its
    /// chosen prompts read.
    Plot(eval_cmd::PlotArgs),
    /// Serve the HTTP API (prompt generation, OpenAI-compatible embeddings and chat,
    /// /metrics, OpenAPI at /docs) until SIGTERM or Ctrl-C.
    Serve(Box<serve_cmd::ServeArgs>),
    /// Print the HTTP API's OpenAPI document (docs/openapi.json).
    PrintSchema(serve_cmd::PrintSchemaArgs),
    /// Write a prompt whose LLM answer lands near a target (text or vector): the learned
    /// search, checked with the real LLM within a budget of calls.
    Generate(generate_cmd::GenerateArgs),
    /// One prompt per row of a file of target vectors or texts (JSONL, .npy, Parquet),
    /// written as JSONL; resumable, with an error line per bad row and `--shard i/N`.
    Batch(batch_cmd::BatchArgs),
    /// Build the environment memory: the LLM's own answers to a dataset's train prompts,
    /// embedded, in a seeded order (resumable; `--limit N` builds or extends a prefix,
    /// `--status` says where it stands).
    Remember(remember_cmd::RememberArgs),
    /// Train a latent-space model (surrogate, inverter, corrector) on a dataset's train
    /// split; resumable: run the same command again after an interruption.
    Train(train_args::TrainArgs),
    /// Prompts for points between two targets (texts or vectors): a spherical or linear
    /// path in embedding space, each point's prompt answered and compared with both ends.
    Interpolate(interpolate_cmd::InterpolateArgs),
    /// The interpolation report: pairs of held-out targets, a path between each, and how
    /// the answers' similarity to the start falls and to the end rises along it.
    EvalInterpolation(interpolate_cmd::EvalInterpolationArgs),
    /// Improve a vague prompt (precise or structured style) with the trained prompt
    /// optimizer; with `--budget`, rank variants on real answers.
    Optimize(optimizer_cmd::OptimizeArgs),
    /// The prompt optimizer's benchmark: raw prompts written by intent-keeping families
    /// (the gate, the held-out family) or real users' prompts (`--bpo`), with baselines.
    EvalOptimizer(optimizer_cmd::EvalOptimizerArgs),
    /// Feedback simulated by the real reward: the optimizer's variants for vague train
    /// prompts, answered and scored, best and worst appended to a feedback log.
    SimulateFeedback(optimizer_cmd::SimulateFeedbackArgs),
}

fn main() {
    // candle sizes its thread pools from RAYON_NUM_THREADS and otherwise re-reads
    // /proc/cpuinfo on every call; pin it once, before any thread starts.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: single-threaded at this point; nothing reads the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Models(cmd) => models_cmd::run(cmd, &cli.global),
        Command::EvalPrompt(args) => eval_prompt::run(args, &Config::resolve(&cli.global)?),
        Command::Embed(args) => embed_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Bench(args) => bench::run(args, &Config::resolve(&cli.global)?),
        Command::Ingest(args) => dataset_cmd::ingest(args, &Config::resolve(&cli.global)?),
        Command::Search(args) => dataset_cmd::search(args, &Config::resolve(&cli.global)?),
        Command::Eval(args) => eval_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Plot(args) => eval_cmd::plot(args, &cli.global),
        Command::Serve(args) => serve_cmd::serve(args, &Config::resolve(&cli.global)?),
        Command::PrintSchema(args) => serve_cmd::print_schema(args),
        Command::Generate(args) => generate_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Batch(args) => batch_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Remember(args) => remember_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Train(args) => train_cmd::run(args, &Config::resolve(&cli.global)?),
        Command::Interpolate(args) => {
            interpolate_cmd::interpolate(args, &Config::resolve(&cli.global)?)
        }
        Command::EvalInterpolation(args) => {
            interpolate_cmd::eval_interpolation(args, &Config::resolve(&cli.global)?)
        }
        Command::Optimize(args) => optimizer_cmd::optimize(args, &Config::resolve(&cli.global)?),
        Command::EvalOptimizer(args) => {
            optimizer_cmd::eval_optimizer(args, &Config::resolve(&cli.global)?)
        }
        Command::SimulateFeedback(args) => {
            optimizer_cmd::simulate_feedback(args, &Config::resolve(&cli.global)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_and_environment_variable_is_unique() {
        // clap checks names only in debug builds; release tests ask it explicitly.
        Cli::command().debug_assert();
    }
}
