//! `tidings-spam-sim`: runs a simulated spam campaign against a real
//! Tidings server in this process and prints what got through (a table,
//! or JSON with `--json`), writing an SVG plot. A measuring tool, not part
//! of the shipped `tidings` binary.

use clap::Parser;

/// Simulate a spam campaign against the real server and the client's
/// filing rules, and measure what gets through (prints a table, writes an
/// SVG plot).
#[derive(Parser)]
#[command(name = "tidings-spam-sim", version)]
struct Cli {
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    args: tidings_spam_sim::SpamSimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tidings_spam_sim::run(&cli.args, cli.json).await
}
