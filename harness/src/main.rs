use clap::Parser;
use faultline::cli::{Cli, Command, RunArgs};

fn main() {
    faultline::sys::keep_large_allocations_mapped();
    let cli = Cli::parse();
    let result = match &cli.command {
        None => faultline::app::run(&RunArgs::default()),
        Some(Command::Run(args)) => faultline::app::run(args),
        Some(Command::Plot(args)) => faultline::app::plot(args),
        Some(Command::List(args)) => faultline::app::list(args),
        Some(Command::Env(args)) => faultline::app::env(args),
        Some(Command::Report(args)) => faultline::app::report(args),
        Some(Command::Compare(args)) => faultline::app::compare(args),
        Some(Command::Claim(args)) => faultline::app::claim(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line: what went wrong, with its causes.
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
