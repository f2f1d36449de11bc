//! Prints zen-watcher's CustomResourceDefinitions as YAML, generated from `core/src/crd`.
//!
//! `crd-gen` prints all of them as one multi-document YAML stream; `crd-gen --out-dir DIR`
//! writes one `<plural>.yaml` file per CRD (what `make crds` does for the chart).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Prints zen-watcher's CRDs as YAML")]
struct Cli {
    /// Write one file per CRD into this directory instead of printing to stdout.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let documents = zen_watcher::crd::yaml_documents()?;
    match cli.out_dir {
        None => print!("{}", zen_watcher::crd::join_documents(&documents)),
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file_name, yaml) in &documents {
                let path = dir.join(file_name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}
