//! The exporter of a traced benchmark server and the subscriber its threads record into.

/// Starts the exporter `settings` configure (they must name an endpoint) and a subscriber with
/// its layer alone: no log output, so that what is measured is the export path.
pub(crate) fn recording(
    settings: &cmmv::telemetry::TelemetrySettings,
) -> Result<(cmmv::telemetry::Tracing, tracing::Dispatch), String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let tracing = cmmv::telemetry::Tracing::start(settings)
        .map_err(|e| e.to_string())?
        .ok_or("an endpoint is configured")?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracing.layer()));
    Ok((tracing, dispatch))
}
