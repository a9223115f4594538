//! `sisr shards check DIR`: every manifest of a sharded run against its plan.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ShardsArgs {
    #[command(subcommand)]
    command: ShardsCommand,
}

#[derive(clap::Subcommand)]
enum ShardsCommand {
    /// Report planned images that no shard finished, finished twice, failed, or whose output
    /// changed since it was written.
    Check {
        /// The -o folder of `sisr upscale --shard …`.
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: ShardsArgs) -> Result<ExitCode> {
    let ShardsCommand::Check { dir, json } = args.command;
    let report = sisr_cli::shard::check(&dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}: {} of {} planned images done, in {} manifest(s)", dir.display(), report.done, report.planned, report.shards.len());
        let list = |what: &str, items: Vec<String>| {
            if !items.is_empty() {
                println!("{} {what}:", items.len());
                items.iter().for_each(|i| println!("  {i}"));
            }
        };
        list("missing (no shard finished them)", report.missing.clone());
        list("duplicated (finished more than once)", report.duplicated.clone());
        list("failed", report.failed.iter().map(|(i, e)| format!("{i}: {e}")).collect());
        list("changed or gone since written", report.changed.clone());
        list("manifests of another plan", report.foreign.clone());
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
