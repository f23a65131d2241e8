//! `jm up --watch`: rebuilds a component when a file matching its `build.watch` globs changes,
//! and reloads only that component.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::component::{Slot, short};
use crate::fleet::Fleet;

/// How often the watched files are looked at.
const POLL: Duration = Duration::from_millis(500);

/// Watches every slot whose manifest entry has `build.watch` globs.
pub fn spawn(slots: Vec<Arc<Slot>>, fleet: Option<Arc<Fleet>>) {
    for slot in slots {
        if slot
            .spec
            .build
            .as_ref()
            .is_some_and(|b| !b.watch.is_empty())
        {
            tokio::spawn(watch(slot, fleet.clone()));
        }
    }
}

/// The newest modification time of the files the globs match.
fn newest(slot: &Slot) -> Option<SystemTime> {
    let build = slot.spec.build.as_ref()?;
    build
        .watch
        .iter()
        .filter_map(|pattern| glob::glob(&build.workdir.join(pattern).to_string_lossy()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|path: PathBuf| path.metadata().ok()?.modified().ok())
        .max()
}

async fn watch(slot: Arc<Slot>, fleet: Option<Arc<Fleet>>) {
    let mut seen = newest(&slot);
    loop {
        tokio::time::sleep(POLL).await;
        let now = newest(&slot);
        if now <= seen {
            continue;
        }
        seen = now;
        let spec = slot.spec.clone();
        let built = tokio::task::spawn_blocking(move || crate::build::build_one(&spec, 1, 1)).await;
        if !matches!(built, Ok(Ok(()))) {
            tracing::warn!(component = %slot.name, "rebuild failed; the running version stays");
            continue;
        }
        match slot.reload(None).await {
            Ok(version) => {
                eprintln!("Reloaded {} ({})", slot.name, short(&version.digest));
                if let Some(fleet) = &fleet
                    && let Err(error) = fleet.announce(&slot.name, &version).await
                {
                    tracing::warn!(
                        component = %slot.name,
                        error = %format!("{error:#}"),
                        "fleet announce failed"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(
                    component = %slot.name,
                    error = %format!("{error:#}"),
                    "reload after rebuild refused"
                )
            }
        }
    }
}
