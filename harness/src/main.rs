use clap::Parser;

fn main() {
    faultline::sys::keep_large_allocations_mapped();
    let cli = faultline::cmd::Cli::parse();
    match faultline::cmd::dispatch(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line: what went wrong, with its causes.
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
