use clap::Parser;

fn main() {
    let cli = storyboard::cli::Cli::parse();
    let json = cli.command.json();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(storyboard::run(cli)) {
        Ok(code) => code,
        Err(e) if json => {
            storyboard::report::error_json(&e);
            e.exit_code()
        }
        Err(e) => {
            storyboard::report::error_lines(&e);
            e.exit_code()
        }
    };
    runtime.shutdown_background();
    std::process::exit(code);
}
