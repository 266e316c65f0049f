//! `bulkhead server`: open the state directory through the composition root (audit log, store,
//! keys; the engine connected at once), its TLS identity and its uploads directory (sweeping
//! what stopped servers left), start the reconciler, serve the API over HTTPS until asked to
//! stop, then drain, stop the reconciler, remove the uploads and close the audit log with a
//! final signed checkpoint.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use super::listen::{self, Limits};
use super::{controller, http, routes, tls};

/// How `bulkhead server` runs. The `Default` listens on 127.0.0.1:7443.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `host:port` (port 0 picks a free one; the address is printed).
    pub listen: String,
    pub state_dir: Option<PathBuf>,
    /// A certificate chain and key (PEM) to serve instead of the local CA's.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// How often the reconciler looks at every project even without engine events.
    pub reconcile_every: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            listen: "127.0.0.1:7443".into(),
            state_dir: None,
            cert: None,
            reconcile_every: Duration::from_secs(5),
        }
    }
}

/// What a started server tells its operator (printed by the CLI).
#[derive(Clone, Debug)]
pub struct Started {
    pub url: String,
    pub fingerprint: String,
    pub ca_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// Where this server unpacks uploads (`None`: it could not prepare them; each upload
    /// tries again).
    pub uploads: Option<PathBuf>,
}

/// Run the server until `shutdown` resolves. `started` is called once it is listening.
pub async fn run(
    opts: ServerOptions,
    env: &BTreeMap<String, String>,
    started: impl FnOnce(&Started),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let progress: Arc<dyn Fn(bulkhead_ports::Progress) + Send + Sync> =
        Arc::new(|p: bulkhead_ports::Progress| tracing::info!(subject = %p.subject, "{}", p.line));
    let root = crate::root::open(opts.state_dir.as_deref(), env, progress).await?;
    root.connect_engine().await?;
    let dir = root.state_dir.clone();
    let api = Arc::clone(&root.api);
    let host = opts
        .listen
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default();
    let material = match &opts.cert {
        Some((cert, key)) => tls::load_user(cert, key)?,
        None => tls::load_or_create(&dir, &[host])?,
    };
    let config = material.server_config()?;
    let listener = listen::bind(&opts.listen).await?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let opener = Arc::clone(&api);
    let uploads = match tokio::task::spawn_blocking(move || opener.open_uploads()).await {
        Ok(Ok(u)) => Some(u.dir().to_path_buf()),
        Ok(Err(e)) => {
            tracing::warn!("uploads cannot be unpacked yet (each upload tries again): {e}");
            None
        }
        Err(e) => {
            tracing::warn!("uploads cannot be unpacked yet (each upload tries again): {e}");
            None
        }
    };
    started(&Started {
        url: format!("https://{addr}"),
        fingerprint: material.fingerprint(),
        ca_file: material.ca_file(),
        state_dir: dir.clone(),
        uploads,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let reconciler = tokio::spawn(controller::run(
        Arc::clone(&api),
        opts.reconcile_every,
        stop_rx,
    ));
    let limits = Limits {
        max_body_bytes: routes::UPLOAD_BODY + (1 << 20),
        // Deploys build images and wait for health; they run as tasks of their own.
        request_timeout: Duration::from_secs(30 * 60),
        ..Limits::default()
    };
    let served = listen::serve_with(
        listener,
        config,
        http::router(Arc::clone(&api)),
        shutdown,
        limits,
        Arc::clone(&api.listener),
        Some(http::refuser(Arc::clone(&api))),
    )
    .await;
    let _ = stop_tx.send(true);
    let _ = reconciler.await;
    // Deploys still running past the drain lose their files now; the process is stopping.
    api.close_uploads();
    drop(api);
    let closed = root.close().await;
    served?;
    closed?;
    Ok(())
}
