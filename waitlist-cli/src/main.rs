//! `waitlist`: the command line of the waitlist SDK.
//!
//! ```text
//! waitlist schema [--asyncapi]            the event contract as JSON Schema / AsyncAPI
//! waitlist publish TOPIC FILE.jsonl       validate every line as its typed event, then publish
//! waitlist worker                         the domain worker server on any transport
//! ```
//!
//! The transport comes from `--transport` or `WAITLIST_TRANSPORT` (`amqp`,
//! `kafka`, `sqs`), and its settings from the variables the SDK reads
//! (`AMQP_URL`, `KAFKA_BROKERS`, `AWS_ENDPOINT_URL`, `AWS_REGION`, ...).
//! Every failure is one line on standard error and a non-zero exit code.

mod publish;
mod transport;
mod worker;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use transport::TransportKind;

/// The waitlist SDK's command line.
#[derive(Debug, Parser)]
#[command(name = "waitlist", version, about)]
struct Cli {
    /// The transport (default: inferred from `AMQP_URL`, `KAFKA_BROKERS` or
    /// `AWS_ENDPOINT_URL`, in that order).
    #[arg(long, global = true, env = "WAITLIST_TRANSPORT", value_enum)]
    transport: Option<TransportKind>,
    /// Machine-readable JSON output instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    /// Prefix of the broker's exchange and queue names (RabbitMQ, SQS), as
    /// the services using the SDK set it.
    #[arg(long, global = true, env = "WAITLIST_PREFIX", default_value = "")]
    prefix: String,
    /// How long a broker may take to answer before the command gives up.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the JSON Schema of every event and job, or the AsyncAPI
    /// document of topics, keys and groups.
    Schema {
        /// The AsyncAPI 3.0 document instead of the schemas.
        #[arg(long)]
        asyncapi: bool,
    },
    /// Publishes the events of a JSON Lines file to TOPIC. Every line is
    /// checked as the SDK's typed event of that topic first: one bad line
    /// and nothing is sent.
    Publish {
        /// The topic, e.g. `domain-events` or `QUEUE_JOINED`.
        topic: String,
        /// One event per line (`-` for standard input).
        file: String,
    },
    /// Runs the domain worker server: the groups of the domain and job
    /// topics, stores from `DATABASE_URL` (or memory), `/health` and
    /// `/metrics` on `PORT`, until SIGINT or SIGTERM.
    Worker(worker::WorkerArgs),
}

/// `30s`, `500ms`, `2m` or a number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, "s"), |i| t.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Library logs go to standard error, quiet unless RUST_LOG asks.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "off".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("waitlist: error: {message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Schema { asyncapi } => {
            use waitlist::events::schema;
            let doc = if asyncapi {
                schema::asyncapi()
            } else {
                schema::schemas()
            };
            let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        Command::Publish { topic, file } => {
            let kind = TransportKind::chosen(cli.transport)?;
            let broker = transport::Broker {
                kind,
                prefix: cli.prefix,
                timeout: cli.timeout,
            };
            publish::run(&broker, &topic, &file, cli.json).await
        }
        Command::Worker(args) => {
            let broker = transport::Broker {
                kind: TransportKind::chosen(cli.transport)?,
                prefix: cli.prefix,
                timeout: cli.timeout,
            };
            worker::run(&broker, &args).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
