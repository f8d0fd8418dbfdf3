use clap::Parser;

fn main() {
    let cli = storyboard::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(storyboard::run(cli));
    runtime.shutdown_background();
    std::process::exit(code);
}
