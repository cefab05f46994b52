//! `portcullis`: the single sign-on gateway.

use portcullis::{admin, config, serve};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Standards-based single sign-on gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the portal.
    Serve {
        #[arg(long, short, env = "PORTCULLIS_CONFIG", default_value = "config.toml")]
        config: PathBuf,
    },
    /// Validate the configuration and exit.
    CheckConfig {
        #[arg(long, short, env = "PORTCULLIS_CONFIG", default_value = "config.toml")]
        config: PathBuf,
    },
    /// Administer users, groups, applications and settings in the store.
    Admin {
        /// The configuration file; accepted anywhere after `admin`.
        #[arg(
            long,
            short,
            env = "PORTCULLIS_CONFIG",
            default_value = "config.toml",
            global = true
        )]
        config: PathBuf,
        #[command(flatten)]
        args: admin::AdminArgs,
    },
}

fn init_logging(log: &config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    // Colours only for a person at a terminal, not in journald or a file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = config::Config::load(&config)?;
            init_logging(&config.log);
            serve::run(config).await
        }
        Command::CheckConfig { config } => {
            let config = config::Config::load(&config)?;
            println!(
                "{}: configuration is valid ({} application polic{} in {})",
                config.path.display(),
                config.policies.len(),
                if config.policies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                config.gateway.policies_dir.display()
            );
            Ok(())
        }
        Command::Admin { config, args } => {
            let config = config::Config::load(&config)?;
            // Admin commands print results; only warnings go to the log.
            init_logging(&config::LogConfig {
                level: "warn".into(),
                ..config.log.clone()
            });
            let idp = idp::Idp::open(config.idp).await?;
            admin::run(&idp, args).await
        }
    }
}

// The proxied path allocates and frees small buffers for every request on two
// threads; glibc's malloc showed up as about a tenth of the gateway's CPU in
// `perf` under bench/gateway.sh. mimalloc's thread-local free lists cost less.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
