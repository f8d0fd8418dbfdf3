//! `storyboard sandbox`: the emulator, served until Ctrl-C.

use crate::cli::{self};
use crate::error::{Error, UsageError, exit};
use crate::{report, sandbox};

/// `storyboard sandbox`: serves the emulator until Ctrl-C.
pub(crate) async fn sandbox(args: cli::SandboxArgs) -> Result<i32, Error> {
    let ip: std::net::IpAddr = args.bind.parse().map_err(|_| UsageError::Bind(args.bind.clone()))?;
    let secs = |name: &'static str, v: f64| {
        (v.is_finite() && v >= 0.0)
            .then(|| std::time::Duration::from_secs_f64(v))
            .ok_or(UsageError::Seconds(name))
    };
    let config = sandbox::SandboxConfig {
        queue_time: secs("queue-seconds", args.queue_seconds)?,
        job_time: secs("job-seconds", args.job_seconds)?,
        clip_bytes: args.clip_bytes,
        result_ttl: args
            .result_ttl_seconds
            .map(|s| secs("result-ttl-seconds", s))
            .transpose()?,
        eachlabs_max_in_flight: args.eachlabs_max_in_flight.max(1),
        faults: args.faults.parse().map_err(UsageError::Faults)?,
        ..sandbox::SandboxConfig::default()
    };
    let addr = std::net::SocketAddr::new(ip, args.port);
    let stats = sandbox::serve_until(addr, config, |sb| report::sandbox_ready(&sb.base_url()), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|source| Error::Serve { addr, source })?;
    report::stderr_line(&format!("sandbox stopped; requests served: {}", stats["requests"]));
    Ok(exit::OK)
}
