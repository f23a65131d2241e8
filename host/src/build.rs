//! `jm build`: runs each component's `[component.NAME.build] command`, with progress output.

use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::manifest::{ComponentSpec, Manifest};

/// Which components to build.
pub enum Selection {
    /// Every component that has a build command.
    All,
    /// Only components whose `source` file is missing.
    Missing,
}

/// Builds the selected components of `manifest`, one after another.
pub fn build(manifest: &Manifest, selection: Selection) -> Result<()> {
    let specs: Vec<&ComponentSpec> = manifest
        .components
        .values()
        .filter(|c| c.build.is_some())
        .filter(|c| matches!(selection, Selection::All) || !c.source.exists())
        .collect();
    let total = specs.len();
    for (n, spec) in specs.into_iter().enumerate() {
        build_one(spec, n + 1, total)?;
    }
    Ok(())
}

/// Runs the build command of one component, as step `n` of `total`.
pub fn build_one(spec: &ComponentSpec, n: usize, total: usize) -> Result<()> {
    let Some(build) = &spec.build else {
        return Ok(());
    };
    eprintln!(
        "[{n}/{total}] Building component {} with `{}`",
        spec.name, build.command
    );
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(&build.workdir)
        .status();
    match status {
        Ok(status) if status.success() => {
            eprintln!(
                "[{n}/{total}] Built {} in {:.1}s",
                spec.name,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Ok(status) => bail!("build of component `{}` failed ({status})", spec.name),
        Err(error) => bail!(
            "failed to run the build of component `{}`: {error}",
            spec.name
        ),
    }
}
